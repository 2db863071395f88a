"""Fake PagerDuty Events API v2 (`POST /v2/enqueue`): validates events as the API documents
them and keeps the incidents they open and resolve, by dedup_key.

https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and the overview's
"Response Codes & Retry Logic" and "API Limits".
"""

from __future__ import annotations

import json
from typing import Any

from providers.server import FakeProvider, Recorded, Reply

MAX_BODY_BYTES = 512_000
SEVERITIES = frozenset({"critical", "error", "warning", "info"})


def invalid(*errors: str) -> Reply:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return Reply(400, json.dumps(body).encode(), {"content-type": "application/json"})


class FakePagerDuty(FakeProvider):
    # ~120 events a minute per integration key.
    per_minute = 120

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        # dedup_key -> "triggered" | "resolved", and the trigger events received for it.
        self.incidents: dict[str, str] = {}
        self.triggers: dict[str, list[dict[str, Any]]] = {}

    def reset(self) -> None:
        super().reset()
        self.incidents.clear()
        self.triggers.clear()

    def rate_limited(self) -> Reply:
        body = {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. Please retry later.",
        }
        return Reply(429, json.dumps(body).encode(), {"content-type": "application/json"})

    def answer(self, request: Recorded) -> Reply:
        if request.path != "/v2/enqueue":
            return Reply(404, b"Not Found")
        if len(request.body) > MAX_BODY_BYTES:
            return invalid("Event object is too large (over 512 KB)")
        try:
            event = request.json()
        except ValueError:
            body = {
                "status": "Unrecognized object",
                "message": "Event object format is unrecognized",
                "errors": ["JSON parse error"],
            }
            return Reply(400, json.dumps(body).encode(), {"content-type": "application/json"})
        key = str(event.get("routing_key", ""))
        if len(key) != 32:
            return invalid("Length of 'routing_key' is incorrect (should be 32 characters)")
        if key not in self.keys:
            return invalid("Invalid routing key")
        if self.over_rate():
            return self.rate_limited()
        problems = _problems(event)
        if problems:
            return invalid(*problems)
        dedup = event["dedup_key"]
        if event["event_action"] == "trigger":
            self.incidents[dedup] = "triggered"
            self.triggers.setdefault(dedup, []).append(event)
        elif event["event_action"] == "resolve" and self.incidents.get(dedup) == "triggered":
            self.incidents[dedup] = "resolved"
        body = {"status": "success", "message": "Event processed", "dedup_key": dedup}
        return Reply(202, json.dumps(body).encode(), {"content-type": "application/json"})


def _problems(event: dict[str, Any]) -> list[str]:
    action = event.get("event_action")
    if action not in {"trigger", "acknowledge", "resolve"}:
        return ["'event_action' is missing or invalid"]
    dedup = event.get("dedup_key")
    if not isinstance(dedup, str) or not dedup or len(dedup) > 255:
        return ["'dedup_key' is missing, blank or longer than 255 characters"]
    if action != "trigger":
        return []
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    problems = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip() or len(summary) > 1024:
        problems.append("'payload.summary' is missing, blank or longer than 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"].strip():
        problems.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        problems.append("'payload.severity' must be critical, error, warning or info")
    for link in event.get("links", []):
        if not isinstance(link, dict) or not link.get("href"):
            problems.append("'links[].href' is missing")
    return problems
