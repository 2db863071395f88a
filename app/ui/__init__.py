"""The web console under /ui: server-rendered pages, htmx, a live feed over SSE."""
