"""Decoding a webhook body without trusting its encoding."""

from __future__ import annotations

from urllib.parse import parse_qs

from app.sources.base import JsonDocument
from app.web.errors import ApiError

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"
# Sources whose documented webhooks may come form-encoded, the JSON in a `payload` field:
# GitHub's "Content type: application/x-www-form-urlencoded"
# (https://docs.github.com/en/webhooks/using-webhooks/creating-webhooks). Every other
# source takes JSON only: a cross-site HTML form can send a form encoding, never JSON
# (that needs a CORS preflight, which is not answered), so no web page can plant events
# on a source left without a token.
FORM_SOURCES = frozenset({"github"})


def json_document(content_type: str | None, body: bytes, source: str) -> JsonDocument:
    """The JSON text of a JSON body, or of GitHub's form encoding (`payload=<json>`).

    Only the encoding is checked here; the source's payload model parses the text.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        return _text(body)
    if media == FORM_TYPE and source in FORM_SOURCES:
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
