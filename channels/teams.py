"""Microsoft Teams through a Workflows (Power Automate) webhook: one Adaptive Card.

Office 365 connectors in Teams are retired; a channel's incoming webhook is now a
workflow started by "When a Teams webhook request is received", which posts the
Adaptive Cards of a `{"type": "message", "attachments": [...]}` body
(https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using,
"Send Adaptive Cards using an incoming webhook"). The flow runs after it answered:
202 Accepted with an empty body is success; errors are a non-2xx status with
`{"error": {"code", "message"}}`, 429 when throttled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import httpx

from app.events import Event
from channels.base import (
    ChannelConfig,
    DeliveryResult,
    Message,
    Notification,
    PermanentError,
    TransientError,
)
from channels.http import HttpChannel, HttpConfig
from channels.limits import Budget, json_len, truncate
from channels.markup import teams as escape_teams
from channels.templating import Kind

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
# Characters of the title block kept: a heading, not a page.
_TITLE = Budget(300)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each line break made one a TextBlock shows: a
    single newline is not one in Teams' markdown, a blank line is (the format doc above)."""
    paragraphs = (p for p in text.split("\n\n") if p.strip())
    return ["\n\n".join(line for line in p.split("\n") if line.strip()) for p in paragraphs]


def title_colour(events: Sequence[Event]) -> str:
    statuses = {e.labels.get("status", "") for e in events}
    if statuses & {"failure", "firing"}:
        return "Attention"
    if "unstable" in statuses:
        return "Warning"
    if statuses and statuses <= {"success", "resolved"}:
        return "Good"
    return "Default"


class TeamsConfig(HttpConfig):
    # "If more than four requests are made in a second, the client connection is
    # throttled" (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook,
    # "Rate limiting for connectors").
    default_rate: ClassVar[tuple[int, float]] = (4, 1.0)

    type: Literal["teams"] = "teams"


class TeamsChannel(HttpChannel):
    type_name: ClassVar[str] = "teams"
    config_model: ClassVar[type[ChannelConfig]] = TeamsConfig
    template_name: ClassVar[str] = "card.md.j2"
    markup: ClassVar[Kind] = "teams"
    # A Teams message is at most ~28 KB, Teams' own markup around the card included (the
    # doc above: "The message size limit is 28 KB"; larger posts fail with "Request Entity
    # too large"): the body we post stays 3 KB under it.
    body_bytes: ClassVar[int] = 25_000

    def text_budget(self) -> Budget:
        envelope = json_len(self.build_body("😀" * _TITLE.limit, "", None))
        return Budget(self.body_bytes - envelope, self._text_bytes)

    def _text_bytes(self, text: str) -> int:
        return json_len(self._blocks(text))

    @staticmethod
    def _blocks(text: str) -> list[dict[str, object]]:
        return [
            {"type": "TextBlock", "text": p, "wrap": True, "spacing": "Medium"}
            for p in _paragraphs(text)
        ]

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        heading = {
            "type": "TextBlock",
            # A TextBlock renders markdown: the title is escaped like any payload value.
            "text": escape_teams(truncate(title, _TITLE, "…")),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": title_colour(source.events if source else ()),
        }
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [heading, *self._blocks(text)],
        }
        attachment = {"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}
        return {"type": "message", "attachments": [attachment]}

    async def send(self, message: Message) -> DeliveryResult:
        url = self.config.url.get_secret_value()
        response = await self.post_json(url, self.body_of(message))
        self.check_status(response)
        if is_legacy_connector(url):
            return self._connector_verdict(response)
        return DeliveryResult(detail=f"HTTP {response.status_code}")

    def _connector_verdict(self, response: httpx.Response) -> DeliveryResult:
        """A retired Office 365 connector, where one still answers: 200 with body "1" is
        sent; it reports a throttled or failed post as 200 with the error in the text
        ("Microsoft Teams endpoint returned HTTP error 429", connectors-using, "Rate
        limiting for connectors")."""
        text = response.text.strip()
        if text == "1":
            return DeliveryResult(detail="HTTP 200 1 (Office 365 connector)")
        detail = f"HTTP {response.status_code}: {self.body_excerpt(response)}"
        if "429" in text:
            raise TransientError(detail)
        raise PermanentError(detail + " (Office 365 connectors are retired: use a Workflows URL)")


def is_legacy_connector(url: str) -> bool:
    """An Office 365 connector URL (`https://<tenant>.webhook.office.com/webhookb2/…`)."""
    parsed = httpx.URL(url)
    return parsed.host.endswith("webhook.office.com") or parsed.path.startswith("/webhookb2/")
