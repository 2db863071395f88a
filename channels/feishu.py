"""Feishu / Lark custom bot (自定义机器人): message cards or rich-text posts, optional signing.

Contract: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (Lark, the
same API on open.larksuite.com: https://open.larksuite.com/document/client-docs/bot-v3/add-custom-bot)
— the answer is JSON whose `code` is 0 on success (older answers say `StatusCode`), any
other code is a failure, with HTTP 200 either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from app.events import Event
from channels.base import ChannelConfig, DeliveryResult, Message, Notification, secret_set
from channels.http import ErrcodeChannel, HttpConfig
from channels.limits import Budget, json_len, truncate
from channels.mentions import Mention
from channels.templating import Kind
from channels.wording import Language

# Characters of the card header / post title kept (Feishu shows two lines of it).
_TITLE = Budget(200)
# `"timestamp": "1700000000", "sign": "<44 base64 characters>"` added when signing.
_SIGN_BYTES = 80
# What the markdown template makes of a link and of bold text: the only markup a post
# keeps (a payload value cannot write it: `[ ] *` in values are look-alikes).
_LINK = re.compile(r"\[([^\]\n]*)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
# An @ as `at` writes it, in a card's markdown; a post gets an `at` element for it.
_AT = re.compile(r"<at id=([A-Za-z0-9_-]+)></at>")
# Header colours of a card, by what its events say.
_RED, _ORANGE, _GREEN, _BLUE = "red", "orange", "green", "blue"
_POST_LANGUAGE: dict[Language, str] = {"zh": "zh_cn", "en": "en_us"}


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")) — the key is the string to
    sign and the message empty, unlike DingTalk's (Feishu's sample code in the doc above)."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuConfig(HttpConfig):
    # 100 requests a minute and 5 a second per bot (the doc above, "使用限制"): 5 in any
    # 3 s keeps both.
    default_rate: ClassVar[tuple[int, float]] = (5, 3.0)
    default_language: ClassVar[Language] = "zh"

    type: Literal["feishu"] = "feishu"
    # The bot's signing secret (签名校验); when set every request is signed.
    secret: SecretStr | None = None
    msg_type: Literal["interactive", "post"] = "interactive"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: int | None = None
    msg: str = ""
    # Feishu's legacy names, still answered beside `code` and `msg`.
    StatusCode: int | None = None
    StatusMessage: str = ""


def card_colour(events: Sequence[Event]) -> str:
    """Red while something fails or fires, orange when unstable, green when all is well."""
    statuses = {e.labels.get("status", "") for e in events}
    if statuses & {"failure", "firing"}:
        return _RED
    if "unstable" in statuses:
        return _ORANGE
    if statuses and statuses <= {"success", "resolved"}:
        return _GREEN
    return _BLUE


def post_line(line: str) -> list[dict[str, object]]:
    """One paragraph of a post from one line of the markdown template's output."""
    elements: list[dict[str, object]] = []
    position = 0
    for link in _LINK.finditer(line):
        elements += _text_elements(line[position : link.start()])
        elements.append({"tag": "a", "text": link[1], "href": link[2]})
        position = link.end()
    elements += _text_elements(line[position:])
    return elements or [{"tag": "text", "text": ""}]


def _text_elements(text: str) -> list[dict[str, object]]:
    elements: list[dict[str, object]] = []
    position = 0
    for at in _AT.finditer(text):
        elements += _styled(text[position : at.start()])
        elements.append({"tag": "at", "user_id": at[1]})
        position = at.end()
    return elements + _styled(text[position:])


def _styled(text: str) -> list[dict[str, object]]:
    elements: list[dict[str, object]] = []
    position = 0
    for bold in _BOLD.finditer(text):
        if bold.start() > position:
            elements.append({"tag": "text", "text": text[position : bold.start()]})
        elements.append({"tag": "text", "text": bold[1], "style": ["bold"]})
        position = bold.end()
    if position < len(text):
        elements.append({"tag": "text", "text": text[position:]})
    return elements


class FeishuChannel(ErrcodeChannel):
    type_name: ClassVar[str] = "feishu"
    config_model: ClassVar[type[ChannelConfig]] = FeishuConfig
    config: FeishuConfig
    template_name: ClassVar[str] = "card.md.j2"
    # Card markdown (lark_md) is Markdown plus `<at>`, `<font>` and `<link>` tags, like
    # DingTalk's: values are escaped the same way.
    markup: ClassVar[Kind] = "markdown"
    # Request body ≤ 20 KB (the doc above, "使用限制": "请求体大小不能超过 20 K").
    body_bytes: ClassVar[int] = 20_000
    code_name: ClassVar[str] = "code"
    # 11232: throttled ("frequency limited") — sending at :00 or :30 past the hour, or over
    # the limits above; the bus backs off (1 s, 2 s, …).
    transient_codes: ClassVar[Mapping[int, float | None]] = {11232: None}
    # 9499 "Bad Request": a body over 20 KB (or one Feishu cannot read, which what we
    # build is not): split and send again.
    too_large_codes: ClassVar[frozenset[int]] = frozenset({9499})

    def at(self, person: Mention) -> str | None:
        # `<at id=open_id></at>` in card markdown, an `at` element in a post (the doc
        # above, "@指定人"): either notifies the person.
        handle = person.handle("feishu")
        return f"<at id={handle}></at>" if handle else None

    def text_budget(self) -> Budget:
        envelope = json_len(self.build_body("😀" * _TITLE.limit, "", None)) + _SIGN_BYTES
        return Budget(self.body_bytes - envelope, self._text_bytes)

    def _text_bytes(self, text: str) -> int:
        """Bytes `text` adds to the body, as the message type lays it out."""
        return json_len(self._content(text))

    def _content(self, text: str) -> list[object]:
        if self.config.msg_type == "post":
            return [post_line(line) for line in text.split("\n")]
        return [{"tag": "markdown", "content": text}]

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        # Titles are plain text in both types (a card header's `plain_text`, a post title).
        shown = truncate(title, _TITLE, "…")
        if self.config.msg_type == "post":
            post = {"title": shown, "content": self._content(text)}
            language = _POST_LANGUAGE[self.words.language]
            return {"msg_type": "post", "content": {"post": {language: post}}}
        header = {
            "title": {"tag": "plain_text", "content": shown},
            "template": card_colour(source.events if source else ()),
        }
        card = {"config": {"wide_screen_mode": True}, "header": header}
        return {"msg_type": "interactive", "card": {**card, "elements": self._content(text)}}

    def signed(self, body: dict[str, object], now_s: int | None = None) -> dict[str, object]:
        """`body` with `timestamp` (seconds) and `sign` beside `msg_type`, when signing."""
        if not secret_set(self.config.secret):
            return body
        assert self.config.secret is not None
        timestamp = int(time.time()) if now_s is None else now_s
        sign = feishu_sign(self.config.secret.get_secret_value(), timestamp)
        return {"timestamp": str(timestamp), "sign": sign, **body}

    def answer_code(self, response: httpx.Response) -> tuple[int, str] | None:
        try:
            answer = _Answer.model_validate_json(response.content)
        except ValidationError:
            return None
        if answer.code is not None:
            return answer.code, answer.msg
        if answer.StatusCode is not None:
            return answer.StatusCode, answer.StatusMessage
        return None

    async def send(self, message: Message) -> DeliveryResult:
        body = self.signed(self.body_of(message))
        response = await self.post_json(self.config.url.get_secret_value(), body)
        return self.check_errcode(response)
