"""What the JSON API and the console share: request context and access, the error shape,
bounded body reads, and the protections every answer to a browser gets."""
