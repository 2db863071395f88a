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
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from app.events import Event
from channels.base import ChannelConfig, DeliveryResult, Message, Notification, secret_set
from channels.http import HttpChannel, HttpConfig, json_body
from channels.limits import Budget, fit_json, json_len, json_utf8_len, marker, truncate
from channels.rendering import render_capped, summary_title

# Bodies are never cut below this, whatever a TooLarge retry asks.
MIN_BODY_BYTES = 2_048
# Room for the keys, commas and brackets around the parts budgeted one by one.
_FRAMING_BYTES = 64

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
    # Largest request body sent; a group over it goes as several requests. 1 MB is under
    # the common 1 MiB default of proxies in front of receivers (nginx client_max_body_size).
    max_body_bytes: int = Field(default=1_000_000, ge=MIN_BODY_BYTES)

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


def _event_json(event: Event, max_bytes: int) -> dict[str, Any]:
    """The event as JSON within `max_bytes`: its longest strings cut and `truncated` set."""
    whole: dict[str, Any] = event.model_dump(mode="json")
    if json_len(whole) <= max_bytes:
        return whole
    fitted = fit_json(whole, max_bytes - len(', "truncated": true'))
    return {**(fitted or {"id": event.id}), "truncated": True}


def _pack(sizes: Sequence[int], room: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) runs of items whose sizes (plus a comma each) fit `room`;
    one empty run for no items (a digest of folded events still says so)."""
    runs: list[tuple[int, int]] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        if index > start and used + size + 1 > room:
            runs.append((start, index))
            start, used = index, 0
        used += size + 1
    runs.append((start, len(sizes)))
    return runs


class WebhookChannel(HttpChannel):
    type_name: ClassVar[str] = "webhook"
    config_model: ClassVar[type[ChannelConfig]] = WebhookConfig
    config: WebhookConfig
    template_name: ClassVar[str] = "plain.txt.j2"

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        if source is None:
            return {"title": title, "text": text, "events": []}
        return {
            **self._envelope(source, title, self.config.max_body_bytes),
            "text": text,
            "events": [e.model_dump(mode="json") for e in source.events],
        }

    @staticmethod
    def _envelope(source: Notification, title: str, limit: int) -> dict[str, Any]:
        """Everything but text and events, within a quarter of the body."""
        people: list[dict[str, object]] = [
            {"name": m.name, "handles": dict(m.handles)} for m in source.mentions
        ]
        envelope = {
            "delivery_id": source.delivery_id,
            "receiver": source.receiver,
            "route": source.route,
            "group_key": source.group_key,
            "group_labels": dict(source.group_labels),
            "is_fallback": source.is_fallback,
            "folded": source.folded,
            # The route's people (mention:), for the receiver to notify as it does.
            "mentions": people,
            "title": title,
        }
        fitted: dict[str, Any] = fit_json(envelope, limit // 4) or {"title": title[: limit // 16]}
        return fitted

    def render_now(self, notification: Notification, budget: int | None = None) -> list[Message]:
        """Bodies within max_body_bytes (or `budget`): the text gets a quarter, the fixed
        fields a quarter, the events the rest, as many requests as they need; an event
        too big alone has its longest strings cut and says `"truncated": true`."""
        limit = self.config.max_body_bytes if budget is None else budget
        limit = max(MIN_BODY_BYTES, min(limit, self.config.max_body_bytes))
        text_budget = Budget(limit // 4, json_utf8_len)
        title = summary_title(notification, self.words)
        widest = f"{title} ({len(notification.events)}/{len(notification.events)})"
        room = (
            limit
            - json_len(self._envelope(notification, widest, limit))
            - text_budget.limit
            - _FRAMING_BYTES
        )
        events = [_event_json(e, room) for e in notification.events]
        runs = _pack([json_len(e) for e in events], room)
        template = self.template_for(notification)
        messages = []
        for index, (start, end) in enumerate(runs, start=1):
            part = marker(index, len(runs))
            part_title = f"{title} {part}".strip()
            source = replace(notification, events=notification.events[start:end])
            context = self.context(source, source.events, part_title, part)
            text = truncate(render_capped(template, context).strip(), text_budget)
            body = {
                **self._envelope(source, part_title, limit),
                "text": text,
                "events": events[start:end],
            }
            messages.append(Message(part_title, text, body, source, limit, index, len(runs)))
        return messages

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
