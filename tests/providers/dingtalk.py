"""Fake DingTalk custom robot: errcode answers, sign verified as DingTalk documents it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from providers.server import FakeProvider, Recorded, Reply

# Body limit and its errcode as given in the team brief (not in DingTalk's public docs).
MAX_BODY_BYTES = 20_000
SIGN_WINDOW_MS = 3_600_000


class FakeDingTalk(FakeProvider):
    def __init__(self) -> None:
        super().__init__()
        # access_token -> secret (None: the robot uses keywords/IP security, no signing)
        self.robots: dict[str, str | None] = {}
        # Per message accepted: who DingTalk notifies (see `notified`).
        self.notified: list[set[str]] = []

    def reset(self) -> None:
        super().reset()
        self.notified.clear()

    def robot(self, token: str, secret: str | None = None) -> str:
        self.robots[token] = secret
        return f"/robot/send?access_token={token}"

    def answer_forced(self, behaviour: str, request: Recorded) -> Reply:
        if behaviour == "bad_token":
            return Reply.errcode(300001, "token is not exist")
        return super().answer_forced(behaviour, request)

    def rate_limited(self) -> Reply:
        return Reply.errcode(130101, "send too fast, exceed 20 times per minute")

    def answer(self, request: Recorded) -> Reply:
        token = request.query.get("access_token", "")
        if request.path != "/robot/send" or token not in self.robots:
            return Reply.errcode(300001, "token is not exist")
        secret = self.robots[token]
        if secret is not None and (error := self._check_sign(request, secret)):
            return Reply.errcode(310000, error)
        if self.over_rate():
            return self.rate_limited()
        if len(request.body) > MAX_BODY_BYTES:
            return Reply.errcode(460101, "message too long, exceed 20000 bytes")
        try:
            body = request.json()
            markdown = body["markdown"]
            ok = body["msgtype"] == "markdown" and markdown["title"] and markdown["text"]
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return Reply.errcode(40035, "缺少参数 json")
        self.notified.append(notified(body))
        return Reply.errcode(0, "ok")

    @staticmethod
    def _check_sign(request: Recorded, secret: str) -> str | None:
        timestamp = request.query.get("timestamp", "")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > SIGN_WINDOW_MS:
            return "invalid timestamp"
        # The query was URL-decoded on receipt, exactly as DingTalk reads the sign parameter.
        digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
        expected = base64.b64encode(digest.digest()).decode()
        if not hmac.compare_digest(expected, request.query.get("sign", "")):
            return "sign not match"
        return None


def notified(body: dict[str, Any]) -> set[str]:
    """Whom DingTalk notifies: a mobile or user id in `at` that the text also @-s
    (custom-robot-access: "@人" needs both); "all" for isAtAll."""
    at = body.get("at") or {}
    text = body["markdown"]["text"]
    handles = [*at.get("atMobiles", []), *at.get("atUserIds", [])]
    found = {h for h in handles if f"@{h}" in text}
    return found | ({"all"} if at.get("isAtAll") else set())
