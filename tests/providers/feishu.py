"""Fake Feishu / Lark custom bot: `code` answers, signature, body size and rate as documented
(https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

from providers.server import FakeProvider, Recorded, Reply

MAX_BODY_BYTES = 20_000
_AT_TAG = re.compile(r"<at id=([^<>\s]+)></at>")
SIGN_WINDOW_S = 3_600


def answer(code: int, msg: str) -> Reply:
    """Feishu answers HTTP 200 and says in the body what became of the message."""
    body: dict[str, Any] = {"code": code, "msg": msg, "data": {}}
    if code == 0:
        # Kept by Feishu "for compatibility with existing logic".
        body.update(Extra=None, StatusCode=0, StatusMessage="success")
    return Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})


class FakeFeishu(FakeProvider):
    # 100 requests a minute and 5 a second per bot.
    per_minute = 100
    per_second = 5

    def __init__(self) -> None:
        super().__init__()
        # hook token -> secret (None: the bot checks keywords or IPs, not signatures)
        self.bots: dict[str, str | None] = {}
        # Per message accepted: the open_ids Feishu notifies (see `notified`).
        self.notified: list[set[str]] = []

    def reset(self) -> None:
        super().reset()
        self.notified.clear()

    def bot(self, token: str, secret: str | None = None) -> str:
        self.bots[token] = secret
        return f"/open-apis/bot/v2/hook/{token}"

    def answer_forced(self, behaviour: str, request: Recorded) -> Reply:
        if behaviour == "legacy_ok":
            # Some deployments still answer with only the legacy fields.
            body = b'{"Extra":null,"StatusCode":0,"StatusMessage":"success"}'
            return Reply(200, body, {"content-type": "application/json"})
        return super().answer_forced(behaviour, request)

    def rate_limited(self) -> Reply:
        return answer(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[0]")

    def answer(self, request: Recorded) -> Reply:
        prefix = "/open-apis/bot/v2/hook/"
        token = request.path.removeprefix(prefix)
        if not request.path.startswith(prefix) or token not in self.bots:
            return answer(19001, "param invalid: incoming webhook access token invalid")
        if len(request.body) > MAX_BODY_BYTES:
            return answer(9499, "Bad Request")
        try:
            body = request.json()
        except ValueError:
            return answer(9499, "Bad Request")
        secret = self.bots[token]
        if secret is not None and not _signed(body, secret):
            return answer(
                19021, "sign match fail or timestamp is not within one hour from current time"
            )
        if self.over_rate():
            return self.rate_limited()
        if not _well_formed(body):
            return answer(9499, "Bad Request")
        self.notified.append(notified(body))
        return answer(0, "success")


def notified(body: dict[str, Any]) -> set[str]:
    """Whom Feishu notifies: `<at id=…></at>` in a card's markdown, `at` elements in a post."""
    if body["msg_type"] == "interactive":
        texts = [e.get("content", "") for e in body["card"]["elements"]]
        return {m for text in texts for m in _AT_TAG.findall(text)}
    [post] = body["content"]["post"].values()
    return {e["user_id"] for p in post["content"] for e in p if e["tag"] == "at"}


def _signed(body: Any, secret: str) -> bool:
    timestamp = str(body.get("timestamp", "")) if isinstance(body, dict) else ""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SIGN_WINDOW_S:
        return False
    key = f"{timestamp}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, str(body.get("sign", "")))


def _well_formed(body: Any) -> bool:
    """A card with elements, or a post with a title and paragraphs in some language."""
    try:
        if body["msg_type"] == "interactive":
            card = body["card"]
            return isinstance(card["elements"], list) and bool(card["header"]["title"]["content"])
        if body["msg_type"] == "post":
            [post] = body["content"]["post"].values()
            paragraphs = post["content"]
            return all(isinstance(p, list) and p for p in paragraphs) and bool(paragraphs)
    except (KeyError, TypeError, ValueError):
        return False
    return False
