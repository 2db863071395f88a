"""Slack incoming webhooks: Block Kit blocks with a plain `text` fallback.

Contract: https://api.slack.com/messaging/webhooks — success is HTTP 200 with the
literal body "ok"; errors are a status plus a plain-text code (`invalid_payload`, …).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import (
    ChannelConfig,
    DeliveryResult,
    Message,
    Notification,
    PermanentError,
    TooLarge,
)
from channels.http import HttpChannel, HttpConfig
from channels.limits import Budget, chunk_lines, truncate

# Body codes Slack answers when the message, not the request, is too big.
_TOO_LARGE_CODES = frozenset({"msg_too_long", "msg_blocks_too_long"})


class SlackConfig(HttpConfig):
    # "1 per second; short bursts >1 allowed" (https://api.slack.com/docs/rate-limits).
    default_rate: ClassVar[tuple[int, float]] = (1, 1.0)

    type: Literal["slack"] = "slack"


class SlackChannel(HttpChannel):
    type_name: ClassVar[str] = "slack"
    config_model: ClassVar[type[ChannelConfig]] = SlackConfig
    template_name: ClassVar[str] = "slack.mrkdwn.j2"
    # `text` ≤ 40,000 chars (https://api.slack.com/methods/chat.postMessage#arg_text); the
    # fallback repeats title + text, so the body text leaves 1,000 chars for the title.
    budget: ClassVar[Budget | None] = Budget(39_000)
    # Block Kit: ≤ 50 blocks, section text ≤ 3,000 chars, header ≤ 150 chars
    # (https://api.slack.com/reference/block-kit/blocks). 39,000 chars packed by line into
    # 3,000-char sections take at most 26 sections, well under 50 blocks.
    max_blocks: ClassVar[int] = 50
    section_chars: ClassVar[int] = 3_000
    header_chars: ClassVar[int] = 150

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        header = truncate(title, Budget(self.header_chars), "…")
        blocks: list[dict[str, object]] = [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}
        ]
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
            for chunk in chunk_lines(text, self.section_chars)
        ]
        return {"text": f"{title}\n{text}", "blocks": blocks[: self.max_blocks]}

    async def send(self, message: Message) -> DeliveryResult:
        response = await self.post_json(self.config.url.get_secret_value(), self.body_of(message))
        code = response.text.strip()
        if response.status_code == 400 and code in _TOO_LARGE_CODES:
            raise TooLarge(f"HTTP 400: {code}")
        self.check_status(response)
        if code != "ok":
            excerpt = self.body_excerpt(response)
            raise PermanentError(f"HTTP {response.status_code}: unexpected body {excerpt!r}")
        return DeliveryResult(detail="HTTP 200 ok")
