"""Fake Slack incoming webhook (api.slack.com/messaging/webhooks): 200 "ok" or status + code."""

from __future__ import annotations

import json

from providers.server import FakeProvider, Recorded, Reply

# https://api.slack.com/reference/block-kit/blocks, chat.postMessage `text`.
MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3_000
MAX_HEADER_CHARS = 150


class FakeSlack(FakeProvider):
    per_minute = 60  # ~1/s with bursts tolerated

    def __init__(self) -> None:
        super().__init__()
        self.hooks: set[str] = set()

    def hook_path(self, team: str = "T0001", bot: str = "B0001", secret: str = "") -> str:
        """Register a webhook and return its path (the secret part is the credential)."""
        path = f"/services/{team}/{bot}/{secret or 'xoxSecretHookToken0123'}"
        self.hooks.add(path)
        return path

    def answer(self, request: Recorded) -> Reply:
        if request.path not in self.hooks:
            return Reply(404, b"no_service")
        if self.over_rate():
            return self.rate_limited()
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return Reply(400, b"invalid_payload")
        if not isinstance(body, dict) or not body.get("text"):
            return Reply(400, b"no_text")
        if len(body["text"]) > MAX_TEXT_CHARS:
            return Reply(400, b"msg_too_long")
        blocks = body.get("blocks", [])
        sections = [b["text"]["text"] for b in blocks if b.get("type") == "section"]
        headers = [b["text"]["text"] for b in blocks if b.get("type") == "header"]
        if (
            len(blocks) > MAX_BLOCKS
            or any(len(s) > MAX_SECTION_CHARS for s in sections)
            or any(len(h) > MAX_HEADER_CHARS for h in headers)
        ):
            return Reply(400, b"invalid_blocks")
        return Reply(200, b"ok", {"content-type": "text/html"})

    def texts(self) -> list[str]:
        """The `text` of every request received."""
        return [str(json.loads(r.body)["text"]) for r in self.requests]
