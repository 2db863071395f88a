"""Fake Teams Workflows webhook ("When a Teams webhook request is received"): the URL's `sig`
is its credential, an Adaptive Card message is the only body it takes, 202 on success.

Shapes: https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
(Adaptive Cards through an incoming webhook); error bodies `{"error": {"code", "message"}}`
as Power Automate answers them.
"""

from __future__ import annotations

import json
from typing import Any

from providers.server import FakeProvider, Recorded, Reply

MAX_BODY_BYTES = 28_000
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
# How a connector said it was throttled: 200, the error in the text (connectors-using).
_CONNECTOR_THROTTLED = Reply(
    200, b"Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0"
)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return Reply(status, body, {"content-type": "application/json", **(headers or {})})


class FakeTeams(FakeProvider):
    per_minute = 1_000
    # "If more than four requests are made in a second, the client connection is throttled".
    per_second = 4

    def __init__(self) -> None:
        super().__init__()
        # workflow id -> its signature
        self.flows: dict[str, str] = {}
        # Paths of retired Office 365 connectors that still answer.
        self.connectors: set[str] = set()

    def flow(self, workflow: str, sig: str) -> str:
        self.flows[workflow] = sig
        return (
            f"/workflows/{workflow}/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}"
        )

    def answer_forced(self, behaviour: str, request: Recorded) -> Reply:
        if behaviour == "rate_limit" and request.path.startswith("/webhookb2/"):
            return _CONNECTOR_THROTTLED
        return super().answer_forced(behaviour, request)

    def rate_limited(self) -> Reply:
        return error(
            429,
            "WorkflowRequestsThrottled",
            "The workflow request was throttled; retry later.",
            {"retry-after": "7"},
        )

    def answer(self, request: Recorded) -> Reply:
        if request.path.startswith("/webhookb2/"):
            return self._connector(request)
        parts = request.path.strip("/").split("/")
        workflow = parts[1] if len(parts) == 6 and parts[0] == "workflows" else ""
        if workflow not in self.flows:
            return error(404, "WorkflowNotFound", "The workflow could not be found.")
        if request.query.get("sig") != self.flows[workflow]:
            return error(
                401,
                "DirectApiAuthorizationRequired",
                "The request must be authenticated only by Shared Access scheme.",
            )
        if self.over_rate():
            return self.rate_limited()
        if len(request.body) > MAX_BODY_BYTES:
            return error(413, "MessageSizeTooLarge", "Request Entity too large")
        try:
            body = request.json()
        except ValueError:
            return error(400, "InvalidRequestContent", "The request content is not valid JSON.")
        if not _adaptive_card_message(body):
            return error(400, "TriggerInputSchemaMismatch", "The input body does not match.")
        return Reply(202)

    def _connector(self, request: Recorded) -> Reply:
        """A retired Office 365 connector: 200 either way, "1" on success, the error in the
        text otherwise (even a throttled post's)."""
        if self.over_rate():
            return _CONNECTOR_THROTTLED
        if request.path.rstrip("/") not in self.connectors:
            return Reply(200, b"Webhook Bad Request - Null or empty event")
        return Reply(200, b"1")

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Card of every request received."""
        return [r.json()["attachments"][0]["content"] for r in self.requests]


def _adaptive_card_message(body: Any) -> bool:
    try:
        [attachment] = body["attachments"]
        card = attachment["content"]
        return (
            body["type"] == "message"
            and attachment["contentType"] == ADAPTIVE_CARD
            and card["type"] == "AdaptiveCard"
            and all(block["type"] == "TextBlock" and block["text"] for block in card["body"])
        )
    except (KeyError, TypeError, ValueError):
        return False
