"""Fake generic webhook receiver: checks Signalbox's signature the way docs/channels.md says."""

from __future__ import annotations

import hashlib
import hmac

from providers.server import FakeProvider, Recorded, Reply


class FakeReceiver(FakeProvider):
    per_minute = 10_000
    max_body_bytes = 1_000_000

    def __init__(self) -> None:
        super().__init__()
        self.secret: str | None = None

    def reset(self) -> None:
        super().reset()
        self.secret = None
        self.max_body_bytes = type(self).max_body_bytes

    def answer_forced(self, behaviour: str, request: Recorded) -> Reply:
        if behaviour == "too_large":
            return Reply(413, b"request entity too large")
        return super().answer_forced(behaviour, request)

    def answer(self, request: Recorded) -> Reply:
        if self.secret is not None:
            timestamp = request.headers.get("x-signalbox-timestamp", "")
            signed = timestamp.encode() + b"." + request.body
            mac = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
            given = request.headers.get("x-signalbox-signature", "")
            if not hmac.compare_digest(f"sha256={mac}", given):
                return Reply(401, b"bad signature")
        if len(request.body) > self.max_body_bytes:
            return Reply(413, b"request entity too large")
        return Reply(204)
