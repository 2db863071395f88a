"""WeCom (企业微信) group robot: markdown by default, text when mobiles must be @-ed.

Contract: https://developer.work.weixin.qq.com/document/path/91770 — HTTP 200 with
`errcode` 0 on success, any other errcode is a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from channels.base import ChannelConfig, DeliveryResult, Message, Notification
from channels.http import ErrcodeChannel, HttpConfig
from channels.limits import Budget, utf8_len
from channels.mentions import Mention
from channels.templating import Kind
from channels.wording import Language


class WeComConfig(HttpConfig):
    # 20 messages per minute per robot (doc 91770, "消息发送频率限制").
    default_rate: ClassVar[tuple[int, float]] = (20, 60.0)
    default_language: ClassVar[Language] = "zh"

    type: Literal["wecom"] = "wecom"
    msgtype: Literal["markdown", "text"] = "markdown"
    # User ids to @; "@all" for everyone. In markdown they become <@userid> tags.
    mentioned_list: list[str] = Field(default_factory=list)
    # Mobiles to @: WeCom honours these only in msgtype text.
    mentioned_mobile_list: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mobiles_need_text(self) -> Self:
        if self.mentioned_mobile_list and self.msgtype != "text":
            raise ValueError("mentioned_mobile_list works only with msgtype: text")
        return self


class WeComChannel(ErrcodeChannel):
    type_name: ClassVar[str] = "wecom"
    config_model: ClassVar[type[ChannelConfig]] = WeComConfig
    config: WeComConfig
    template_name: ClassVar[str] = "wecom.md.j2"
    # markdown.content ≤ 4,096 bytes, text.content ≤ 2,048 bytes, UTF-8 (doc 91770).
    content_bytes: ClassVar[Mapping[str, int]] = {"markdown": 4_096, "text": 2_048}
    # 45009 "api freq out of limit" (20 messages/minute per robot); -1 "system busy"
    # (https://developer.work.weixin.qq.com/document/path/90313, the global error codes).
    transient_codes: ClassVar[Mapping[int, float | None]] = {45009: 60.0, -1: None}
    # 40058 "markdown.content exceed max length 4096".
    too_large_codes: ClassVar[frozenset[int]] = frozenset({40058})

    def default_template_name(self) -> str:
        return "plain.txt.j2" if self.config.msgtype == "text" else self.template_name

    def markup_kind(self) -> Kind:
        # Text messages render no markdown but still turn <@userid> into a mention.
        return "chat_text" if self.config.msgtype == "text" else "markdown"

    def mentions(self) -> str:
        if self.config.msgtype == "text" or not self.config.mentioned_list:
            return ""
        return "\n" + " ".join(f"<@{user}>" for user in self.config.mentioned_list)

    def at(self, person: Mention) -> str | None:
        # `<@userid>` in markdown and text content alike (doc 91770); a text message also
        # lists the id in mentioned_list (build_body), WeCom's rule for notifying.
        handle = person.handle("wecom")
        return f"<@{handle}>" if handle else None

    def text_budget(self) -> Budget:
        limit = self.content_bytes[self.config.msgtype] - utf8_len(self.mentions())
        return Budget(limit, utf8_len)

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        if self.config.msgtype == "markdown":
            return {"msgtype": "markdown", "markdown": {"content": text + self.mentions()}}
        return {
            "msgtype": "text",
            "text": {
                "content": text,
                "mentioned_list": [*self.config.mentioned_list, *self.people_ids(source)],
                "mentioned_mobile_list": self.config.mentioned_mobile_list,
            },
        }

    def people_ids(self, source: Notification | None) -> list[str]:
        """The WeCom user ids of the route's people not already in mentioned_list."""
        people = self.mentioned(source) if source else ()
        own = self.config.mentioned_list
        return [i for p in people if (i := p.handle("wecom")) and i not in own]

    async def send(self, message: Message) -> DeliveryResult:
        response = await self.post_json(self.config.url.get_secret_value(), self.body_of(message))
        return self.check_errcode(response)
