"""Fake Telegram Bot API `sendMessage`: token in the path, HTML parse mode parsed as Telegram
documents it, 4,096 characters after parsing, flood control with `parameters.retry_after`.

https://core.telegram.org/bots/api#making-requests, #sendmessage, #html-style.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from providers.server import FakeProvider, Recorded, Reply

MAX_TEXT_UNITS = 4_096
# "Only the tags mentioned above are currently supported."
TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"tg-emoji", "code", "pre", "blockquote"}
)
_TAG = re.compile(r'<(/?)([a-zA-Z][a-zA-Z-]*)((?:\s+[a-zA-Z-]+(?:="[^"<>]*")?)*)\s*>')
# "The API currently supports only the following named HTML entities: &lt;, &gt;, &amp;
# and &quot;"; every numeric one.
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_HREF = re.compile(r'\bhref="([^"]*)"')


def answer(status: int, description: str, **extra: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    body.update(extra)
    return Reply(status, json.dumps(body).encode(), {"content-type": "application/json"})


class HtmlRejected(ValueError):
    """What Telegram says of HTML it cannot parse."""


def parse_html(text: str) -> tuple[str, list[str]]:
    """(the visible text, the link targets) of `text` in HTML parse mode; HtmlRejected for
    what Telegram refuses."""
    visible: list[str] = []
    links: list[str] = []
    stack: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None or tag[2].lower() not in TAGS:
                raise HtmlRejected(f"Unsupported start tag at byte offset {position}")
            closing, name = tag[1], tag[2].lower()
            if closing:
                if not stack or stack[-1] != name:
                    raise HtmlRejected(f'Unmatched end tag "{name}" at byte offset {position}')
                stack.pop()
            else:
                stack.append(name)
                if name == "a" and (href := _HREF.search(tag[3])):
                    links.append(href[1])
            position = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, position)
            if entity is None:
                raise HtmlRejected(f"Unsupported HTML entity at byte offset {position}")
            visible.append(html.unescape(entity[0]))
            position = entity.end()
        elif char == ">":
            raise HtmlRejected(f"Unexpected end tag at byte offset {position}")
        else:
            visible.append(char)
            position += 1
    if stack:
        raise HtmlRejected(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(visible), links


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram(FakeProvider):
    # At most 20 messages a minute to one group (core.telegram.org/bots/faq).
    per_minute = 20

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()
        self.chats: set[str] = set()
        # old chat id -> the supergroup it became
        self.migrated: dict[str, int] = {}
        self.sent: list[dict[str, Any]] = []

    def reset(self) -> None:
        super().reset()
        self.sent.clear()
        self.migrated.clear()

    def bot(self, token: str, *chats: str) -> None:
        self.tokens.add(token)
        self.chats.update(chats)

    def rate_limited(self) -> Reply:
        return answer(429, "Too Many Requests: retry after 7", parameters={"retry_after": 7})

    def answer(self, request: Recorded) -> Reply:
        token, _, method = request.path.removeprefix("/bot").partition("/")
        if not request.path.startswith("/bot") or token not in self.tokens:
            return answer(401, "Unauthorized")
        if method.lower() != "sendmessage":
            return answer(404, "Not Found")
        try:
            body = request.json()
        except ValueError:
            return answer(400, "Bad Request: invalid JSON")
        chat = str(body.get("chat_id", ""))
        if chat in self.migrated:
            return answer(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                parameters={"migrate_to_chat_id": self.migrated[chat]},
            )
        if chat not in self.chats:
            return answer(400, "Bad Request: chat not found")
        if self.over_rate():
            return self.rate_limited()
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return answer(400, "Bad Request: message text is empty")
        links: list[str] = []
        if body.get("parse_mode") == "HTML":
            try:
                text, links = parse_html(text)
            except HtmlRejected as exc:
                return answer(400, f"Bad Request: can't parse entities: {exc}")
        if utf16_units(text) > MAX_TEXT_UNITS:
            return answer(400, "Bad Request: message is too long")
        self.sent.append({"chat_id": chat, "text": text, "links": links, "body": body})
        result = {"message_id": len(self.sent), "chat": {"id": chat}, "date": 0, "text": text}
        reply = {"ok": True, "result": result}
        return Reply(200, json.dumps(reply).encode(), {"content-type": "application/json"})
