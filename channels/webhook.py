"""Generic webhook: the notification's events as JSON, optionally HMAC-signed.

Receivers verify `X-Signalbox-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact
body bytes under the shared secret (the GitHub `X-Hub-Signature-256` scheme), and may
reject stale `X-Signalbox-Timestamp` values (Unix seconds) — see docs/channels.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from channels.base import ChannelConfig, DeliveryResult, Message, Notification, secret_set
from channels.http import HttpChannel, HttpConfig, json_body

# RFC 9110 §5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Control characters other than tab: a CR or LF would start a header of its own.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class WebhookConfig(HttpConfig):
    # Receivers are our own services: several subjects at once, and a generous budget.
    default_concurrency: ClassVar[int] = 16
    default_rate: ClassVar[tuple[int, float]] = (100, 1.0)

    type: Literal["webhook"] = "webhook"
    secret: SecretStr | None = None
    # Extra request headers (e.g. Authorization); secret because they usually are.
    headers: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        # The HTTP client refuses these at send time ("header injection"); say so at load,
        # naming the header but never its (secret) value.
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header name {name!r} is not an HTTP token")
            if any(_CONTROL.match(c) for c in value.get_secret_value()):
                raise ValueError(
                    f"header {name}: its value holds a line break or control character"
                )
        return headers


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>." + body: the timestamp is signed too, so a receiver
    that rejects old timestamps cannot be fed a captured request again."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class WebhookChannel(HttpChannel):
    type_name: ClassVar[str] = "webhook"
    config_model: ClassVar[type[ChannelConfig]] = WebhookConfig
    config: WebhookConfig
    template_name: ClassVar[str] = "plain.txt.j2"

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        # No size budget: receivers are ours; a 413 makes the bus split by events.
        if source is None:
            return {"title": title, "text": text, "events": []}
        return {
            "receiver": source.receiver,
            "route": source.route,
            "group_key": source.group_key,
            "group_labels": dict(source.group_labels),
            "is_fallback": source.is_fallback,
            "folded": source.folded,
            "title": title,
            "text": text,
            "events": [e.model_dump(mode="json") for e in source.events],
        }

    async def send(self, message: Message) -> DeliveryResult:
        content = json_body(self.body_of(message))
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        if secret_set(self.config.secret):
            assert self.config.secret is not None
            timestamp = str(int(time.time()))
            headers["X-Signalbox-Timestamp"] = timestamp
            headers["X-Signalbox-Signature"] = signature(
                self.config.secret.get_secret_value(), timestamp, content
            )
        response = await self.post(self.config.url.get_secret_value(), content, headers)
        self.check_status(response)
        return DeliveryResult(detail=f"HTTP {response.status_code}")
