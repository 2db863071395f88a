"""Slack incoming webhooks: Block Kit blocks with a plain `text` fallback.

Contract: https://api.slack.com/messaging/webhooks — success is HTTP 200 with the
literal body "ok"; errors are a status plus a plain-text code (`invalid_payload`, …).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import SecretStr

from channels.base import (
    AckLink,
    ChannelConfig,
    DeliveryResult,
    Message,
    Notification,
    PermanentError,
    TooLarge,
    secret_set,
)
from channels.http import HttpChannel, HttpConfig
from channels.limits import Budget, chunk_lines, truncate, utf16_len
from channels.markup import slack as escape_mrkdwn
from channels.mentions import Mention
from channels.rendering import TITLE_CHARS
from channels.templating import Kind

# Body codes Slack answers when the message, not the request, is too big.
_TOO_LARGE_CODES = frozenset({"msg_too_long", "msg_blocks_too_long"})


class SlackConfig(HttpConfig):
    # "1 per second; short bursts >1 allowed" (https://api.slack.com/docs/rate-limits).
    default_rate: ClassVar[tuple[int, float]] = (1, 1.0)

    type: Literal["slack"] = "slack"
    # The Slack app's signing secret (https://api.slack.com/authentication/verifying-
    # requests-from-slack): messages about trouble get Acknowledge buttons, whose clicks
    # Slack posts to /slack/interactions signed with it. None: no buttons.
    signing_secret: SecretStr | None = None


# What a button click's action_id starts with (app/api/slack.py reads it back).
ACK_ACTION = "signalbox-ack"
# Buttons per message: an actions block takes up to 25 elements; a page lists few.
MAX_BUTTONS = 5
# A button's text is at most 75 characters (https://api.slack.com/reference/block-kit/
# block-elements#button).
_BUTTON_TEXT = Budget(75, utf16_len)


class SlackChannel(HttpChannel):
    type_name: ClassVar[str] = "slack"
    config_model: ClassVar[type[ChannelConfig]] = SlackConfig
    template_name: ClassVar[str] = "slack.mrkdwn.j2"
    markup: ClassVar[Kind] = "slack"
    # `text` ≤ 40,000 chars (https://api.slack.com/methods/chat.postMessage#arg_text). The
    # fallback is title + "\n" + text: the text leaves TITLE_CHARS + 1 for the title. Counted
    # in UTF-16 units (an emoji is two), never fewer than Slack's characters.
    budget: ClassVar[Budget] = Budget(40_000 - TITLE_CHARS - 1, utf16_len)
    # Block Kit: ≤ 50 blocks, section text ≤ 3,000 chars, header ≤ 150 chars
    # (https://api.slack.com/reference/block-kit/blocks). Text packed by line into
    # sections fills each past half, so 39,000 units take at most 27 sections.
    max_blocks: ClassVar[int] = 50
    section: ClassVar[Budget] = Budget(3_000, utf16_len)
    header: ClassVar[Budget] = Budget(150, utf16_len)
    fallback_title: ClassVar[Budget] = Budget(TITLE_CHARS, utf16_len)

    def at(self, person: Mention) -> str | None:
        # `<@U…>` notifies the member (https://api.slack.com/reference/surfaces/formatting#mentioning-users).
        handle = person.handle("slack")
        return f"<@{handle}>" if handle else None

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        # The header is plain_text (shown as is); the fallback `text` is mrkdwn, so the
        # title is escaped there like any value from a payload.
        blocks: list[dict[str, object]] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": truncate(title, self.header, "…"),
                    "emoji": True,
                },
            }
        ]
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
            for chunk in chunk_lines(text, self.section)
        ]
        fallback = truncate(escape_mrkdwn(title), self.fallback_title, "…")
        buttons = self._buttons(source)
        blocks = blocks[: self.max_blocks - 1 if buttons else self.max_blocks] + buttons
        return {"text": f"{fallback}\n{text}", "blocks": blocks}

    def _buttons(self, source: Notification | None) -> list[dict[str, object]]:
        """An actions block of Acknowledge buttons, one per event in trouble, when the
        channel has its app's signing secret (else nobody could verify the clicks)."""
        config = self.config
        signed = isinstance(config, SlackConfig) and secret_set(config.signing_secret)
        if source is None or not signed or not source.ack_links:
            return []
        titles = {e.id: e.title for e in source.events}
        links: list[tuple[str, AckLink]] = list(source.ack_links.items())[:MAX_BUTTONS]
        label = "Acknowledge" if len(links) == 1 else "Acknowledge: {}"
        elements = [
            {
                "type": "button",
                "action_id": f"{ACK_ACTION}-{n}",
                "text": {
                    "type": "plain_text",
                    "text": truncate(label.format(titles.get(i, "")), _BUTTON_TEXT, "…"),
                },
                "value": link.token,
                "style": "primary",
            }
            for n, (i, link) in enumerate(links)
        ]
        return [{"type": "actions", "elements": elements}]

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
