"""Telegram Bot API `sendMessage` in HTML parse mode.

Contract: https://core.telegram.org/bots/api#sendmessage and #making-requests — every
answer is JSON with `ok`; a failure carries `error_code`, `description` and, when
flood control hit, `parameters.retry_after` (seconds to wait). The bot token is part of
the URL path (`/bot<token>/sendMessage`), so it is a secret redacted from every error.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from channels.base import (
    ChannelConfig,
    DeliveryResult,
    Message,
    Notification,
    PermanentError,
    TooLarge,
    TransientError,
    secret_set,
)
from channels.http import HttpChannel, check_url
from channels.limits import TRUNCATED, Budget, utf16_len
from channels.templating import Kind

# "Text of the message to be sent, 1-4096 characters after entities parsing" (sendMessage);
# Telegram counts UTF-16 units. Measured on the HTML we send, which is never shorter than
# what is left after parsing; 64 units stay free to close tags a cut left open.
TEXT_UNITS = 4_096
_CLOSING_ROOM = 64
_CHAT_ID = re.compile(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{3,}")
# A tag or an entity cut by truncation, at the end of the text.
_CUT_TAG = re.compile(r"<[^>]*\Z")
_CUT_ENTITY = re.compile(r"&[#\w]*\Z")
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>")
_ANY_TAG = re.compile(r"<[^>]*>")


class TelegramConfig(ChannelConfig):
    # At most 20 messages a minute to one group (https://core.telegram.org/bots/faq,
    # "My bot is hitting limits, how do I avoid this?").
    default_rate: ClassVar[tuple[int, float]] = (20, 60.0)

    type: Literal["telegram"] = "telegram"
    token: SecretStr
    # A chat id (-1001234567890) or a public channel's @username.
    chat_id: str
    api_url: str = "https://api.telegram.org"
    # A forum topic of the chat to post in.
    message_thread_id: int | None = None

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip() and not _CHAT_ID.fullmatch(value):
            raise ValueError('chat_id is a number such as -1001234567890 or "@channelname"')
        return value

    @field_validator("api_url")
    @classmethod
    def _usable(cls, url: str) -> str:
        check_url(url)
        return url.rstrip("/")

    def enabled(self) -> bool:
        return secret_set(self.token) and bool(self.chat_id.strip()) and bool(self.api_url)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    class Parameters(BaseModel):
        model_config = ConfigDict(extra="ignore")

        retry_after: float | None = None
        migrate_to_chat_id: int | None = None

    ok: bool
    error_code: int | None = None
    description: str = ""
    parameters: Parameters | None = None
    result: dict[str, object] | None = None


def mend_html(text: str) -> str:
    """`text` with a tag or entity cut at its end (before the "truncated" marker) removed and
    the tags it left open closed, so Telegram can parse what a cut left."""
    head, marker = (text[: -len(TRUNCATED)], TRUNCATED) if text.endswith(TRUNCATED) else (text, "")
    head = _CUT_ENTITY.sub("", _CUT_TAG.sub("", head))
    open_tags: list[str] = []
    for closing, name in _TAG.findall(head):
        if not closing:
            open_tags.append(name)
        elif name in open_tags:
            del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name)]
    return head + "".join(f"</{name}>" for name in reversed(open_tags)) + marker


def plain_text(text: str) -> str:
    """What HTML parse mode would show, for sending without it."""
    return html.unescape(_ANY_TAG.sub("", text))


class TelegramChannel(HttpChannel):
    type_name: ClassVar[str] = "telegram"
    config_model: ClassVar[type[ChannelConfig]] = TelegramConfig
    # Not an HttpConfig: the API URL is no secret, the token beside it is.
    config: TelegramConfig  # type: ignore[assignment]
    template_name: ClassVar[str] = "telegram.html.j2"
    # HTML parse mode: `<`, `>` and `&` are entities (https://core.telegram.org/bots/api#html-style).
    markup: ClassVar[Kind] = "html"
    budget: ClassVar[Budget] = Budget(TEXT_UNITS - _CLOSING_ROOM, utf16_len)

    def endpoint(self) -> str:
        return f"{self.config.api_url}/bot{self.config.token.get_secret_value()}/sendMessage"

    def render_now(self, notification: Notification, budget: int | None = None) -> list[Message]:
        # The template's part is mended; the mention line after it is whole markup already.
        mention = self.mention_line(notification)
        return [
            replace(m, text=mended, body=self.build_body(m.title, mended, m.source))
            for m in super().render_now(notification, budget)
            for mended in [mend_html(m.text.removesuffix(mention)) + mention]
        ]

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        chat_id = self.config.chat_id
        chat: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        body: dict[str, object] = {
            "chat_id": chat,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        if self.config.message_thread_id is not None:
            body["message_thread_id"] = self.config.message_thread_id
        return body

    async def send(self, message: Message) -> DeliveryResult:
        body = self.body_of(message)
        response = await self.post_json(self.endpoint(), body)
        answer = self._answer(response)
        if not answer.ok and "can't parse entities" in answer.description:
            # An ops template wrote HTML Telegram does not take: the words still go, unformatted.
            plain = {k: v for k, v in body.items() if k != "parse_mode"}
            plain["text"] = plain_text(str(body["text"]))
            response = await self.post_json(self.endpoint(), plain)
            answer = self._answer(response)
        return self._verdict(response, answer)

    def _answer(self, response: httpx.Response) -> _Answer:
        try:
            return _Answer.model_validate_json(response.content)
        except ValidationError:
            self.check_status(response)
            excerpt = self.body_excerpt(response)
            detail = f"HTTP {response.status_code}: unexpected body {excerpt!r}"
            raise PermanentError(detail) from None

    def _verdict(self, response: httpx.Response, answer: _Answer) -> DeliveryResult:
        if answer.ok:
            message_id = (answer.result or {}).get("message_id")
            return DeliveryResult(detail=f"ok, message_id {message_id}")
        status = answer.error_code or response.status_code
        detail = self.redact(f"HTTP {status}: {answer.description[:300]}")
        parameters = answer.parameters or _Answer.Parameters()
        if status == 429 or status >= 500:
            raise TransientError(detail, retry_after=parameters.retry_after)
        if "message is too long" in answer.description:
            raise TooLarge(detail)
        if parameters.migrate_to_chat_id is not None:
            new_id = parameters.migrate_to_chat_id
            detail += f" (the group is now a supergroup: set chat_id to {new_id})"
        raise PermanentError(detail)
