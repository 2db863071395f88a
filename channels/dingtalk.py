"""DingTalk custom robot (自定义机器人), markdown messages, optional signing (加签).

Contract: https://open.dingtalk.com/document/robots/custom-robot-access and
https://open.dingtalk.com/document/robots/customize-robot-security-settings —
HTTP 200 with `errcode` 0 on success, any other errcode is a failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import ClassVar, Literal
from urllib.parse import urlencode

from pydantic import Field, SecretStr

from channels.base import ChannelConfig, DeliveryResult, Message, Notification, secret_set
from channels.http import ErrcodeChannel, HttpConfig
from channels.limits import Budget, json_len, json_utf8_len, truncate
from channels.markup import markdown as escape_markdown
from channels.mentions import Mention
from channels.templating import Kind
from channels.wording import Language

# Characters of the title DingTalk shows in the chat list and the notification.
_TITLE = Budget(100)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not yet URL-encoded."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class DingTalkConfig(HttpConfig):
    # 20 messages per minute per robot, else 10 minutes' throttling (custom-robot-access,
    # "消息发送频率限制").
    default_rate: ClassVar[tuple[int, float]] = (20, 60.0)
    default_language: ClassVar[Language] = "zh"

    type: Literal["dingtalk"] = "dingtalk"
    # The robot's SEC… secret; when set every request is signed.
    secret: SecretStr | None = None
    at_mobiles: list[str] = Field(default_factory=list)
    at_user_ids: list[str] = Field(default_factory=list)
    at_all: bool = False


class DingTalkChannel(ErrcodeChannel):
    type_name: ClassVar[str] = "dingtalk"
    config_model: ClassVar[type[ChannelConfig]] = DingTalkConfig
    config: DingTalkConfig
    template_name: ClassVar[str] = "markdown.md.j2"
    markup: ClassVar[Kind] = "markdown"
    # Request body ≤ 20,000 bytes. DingTalk's pages state no limit; Feishu's sibling bot
    # documents 20 KB
    # (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot).
    body_bytes: ClassVar[int] = 20_000
    # 130101 "send too fast, exceed 20 times per minute": throttled for 10 minutes (seen
    # verbatim in ccfos/nightingale#369); 410100 is its Chinese-worded sibling.
    transient_codes: ClassVar[Mapping[int, float | None]] = {130101: 600.0, 410100: 600.0}
    # 460101 "message too long" (not in DingTalk's published error list).
    too_large_codes: ClassVar[frozenset[int]] = frozenset({460101})

    def mentions(self) -> str:
        # DingTalk only notifies an @-ed user whose mobile/id also appears in the text.
        names = [*self.config.at_mobiles, *self.config.at_user_ids]
        return "\n\n" + " ".join(f"@{n}" for n in names) if names else ""

    def at(self, person: Mention) -> str | None:
        # "@mobile" / "@userid" in the text, the same handle in `at` (build_body): DingTalk
        # notifies only when both are there (custom-robot-access, "@人").
        handle = person.handle("dingtalk_mobile") or person.handle("dingtalk_user_id")
        return f"@{handle}" if handle else None

    def at_lists(self, source: Notification | None) -> tuple[list[str], list[str]]:
        """(atMobiles, atUserIds): the channel's own and the route's people's."""
        people = self.mentioned(source) if source else ()
        mobiles = [m for p in people if (m := p.handle("dingtalk_mobile"))]
        ids = [
            i
            for p in people
            if not p.handle("dingtalk_mobile") and (i := p.handle("dingtalk_user_id"))
        ]
        own_mobiles, own_ids = self.config.at_mobiles, self.config.at_user_ids
        return (
            [*own_mobiles, *(m for m in mobiles if m not in own_mobiles)],
            [*own_ids, *(i for i in ids if i not in own_ids)],
        )

    def text_budget(self) -> Budget:
        # Everything but the text, with the widest title there can be (4-byte characters):
        # the body is then within body_bytes whatever the title and the config's @-lists.
        envelope = json_len(self.build_body("😀" * _TITLE.limit, "", None))
        return Budget(self.body_bytes - envelope, json_utf8_len)

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        mobiles, user_ids = self.at_lists(source)
        return {
            "msgtype": "markdown",
            "markdown": {
                # Shown as text in the chat list, but escaped too: what a client makes of
                # markdown there is not documented.
                "title": truncate(escape_markdown(title), _TITLE, "…"),
                "text": text + self.mentions(),
            },
            "at": {
                "atMobiles": mobiles,
                "atUserIds": user_ids,
                "isAtAll": self.config.at_all,
            },
        }

    def signed_url(self, now_ms: int | None = None) -> str:
        url = self.config.url.get_secret_value()
        if not secret_set(self.config.secret):
            return url
        assert self.config.secret is not None
        timestamp = int(time.time() * 1000) if now_ms is None else now_ms
        sign = dingtalk_sign(self.config.secret.get_secret_value(), timestamp)
        query = urlencode({"timestamp": timestamp, "sign": sign})
        return f"{url}{'&' if '?' in url else '?'}{query}"

    async def send(self, message: Message) -> DeliveryResult:
        response = await self.post_json(self.signed_url(), self.body_of(message))
        return self.check_errcode(response)
