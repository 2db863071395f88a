"""Reading a request body without trusting its declared or its actual size."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from app.web.errors import ApiError


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    # Straight from the ASGI messages: Request.stream()'s async generator cost more than
    # the copying, and a webhook is usually one message.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload too large", f"body exceeds {limit} bytes")
