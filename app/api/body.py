"""Reading and decoding a webhook body without trusting its size or its encoding."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request

from app.api.errors import ApiError
from app.sources.base import JsonDocument

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"


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


def json_document(content_type: str | None, body: bytes) -> JsonDocument:
    """The JSON text of a JSON body or of GitHub's form encoding (`payload=<json>`).

    Only the encoding is checked here; the source's payload model parses the text.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        return _text(body)
    if media == FORM_TYPE:
        fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
        if "payload" in fields:
            return _text(fields["payload"][0].encode())
    raise ApiError(
        415,
        "unsupported media type",
        f"Content-Type {media or '(none)'} is not JSON; send Content-Type: application/json",
    )


def _text(raw: bytes) -> JsonDocument:
    try:
        return JsonDocument(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed body", f"body is not UTF-8: {exc.reason}") from exc
