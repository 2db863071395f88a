"""Fake WeCom group robot (doc 91770): errcode answers, byte limits per msgtype."""

from __future__ import annotations

import re
from typing import Any

from providers.server import FakeProvider, Recorded, Reply

MAX_CONTENT_BYTES = {"markdown": 4_096, "text": 2_048}
_AT_TAG = re.compile(r"<@([^<>\s]+)>")


class FakeWeCom(FakeProvider):
    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        # Per message accepted: the user ids WeCom notifies (see `notified`).
        self.notified: list[set[str]] = []

    def reset(self) -> None:
        super().reset()
        self.notified.clear()

    def robot(self, key: str) -> str:
        self.keys.add(key)
        return f"/cgi-bin/webhook/send?key={key}"

    def rate_limited(self) -> Reply:
        return Reply.errcode(45009, "api freq out of limit, hint: [1755605200]")

    def answer(self, request: Recorded) -> Reply:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") not in self.keys:
            return Reply.errcode(
                93000, "invalid webhook url, hint: [1755605200056773468916791], from ip: 127.0.0.1"
            )
        if self.over_rate():
            return self.rate_limited()
        try:
            body = request.json()
            msgtype = body["msgtype"]
            content = body[msgtype]["content"]
        except (ValueError, KeyError, TypeError):
            return Reply.errcode(40008, "invalid message type")
        limit = MAX_CONTENT_BYTES.get(msgtype)
        if limit is None:
            return Reply.errcode(40008, "invalid message type")
        if len(content.encode()) > limit:
            return Reply.errcode(40058, f"{msgtype}.content exceed max length {limit}")
        self.notified.append(notified(body))
        return Reply.errcode(0, "ok")


def notified(body: dict[str, Any]) -> set[str]:
    """Whom WeCom notifies: `<@userid>` in the content (markdown and text, doc 91770), and
    in a text message the ids in mentioned_list."""
    message = body[body["msgtype"]]
    found = set(_AT_TAG.findall(message["content"]))
    if body["msgtype"] == "text":
        found |= set(message.get("mentioned_list", []))
    return found
