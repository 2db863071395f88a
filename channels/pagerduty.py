"""PagerDuty Events API v2: an incident opens and closes with the alert or the pipeline.

Contract: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and
https://developer.pagerduty.com/docs/events-api-v2-overview#response-codes--retry-logic —
one event per request, `routing_key` (the integration key) in the body; 202 is
accepted, 400 an event PagerDuty will never take (do not retry), 429 and 5xx are worth
retrying. Each Signalbox event becomes one PagerDuty event whose `dedup_key` is its
subject — the alert's fingerprint, or the pipeline on its branch — so a failure (or a
firing alert) triggers, a still-failing run adds to the same incident, and the fix (or
the resolution) resolves it.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from app.events import Event
from channels.base import (
    ChannelConfig,
    DeliveryResult,
    Message,
    Notification,
    SettingError,
    TransientError,
    secret_set,
)
from channels.http import HttpChannel, HttpConfig
from channels.limits import Budget, fit_json, json_len, truncate
from channels.markup import http_url
from channels.rendering import render_capped, summary_title, truncated_alerts
from channels.templating import Kind

Severity = Literal["critical", "error", "warning", "info"]
Action = Literal["trigger", "resolve"]

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
# Limits of an event (trigger-events doc): summary ≤ 1,024 characters, dedup_key ≤ 255,
# the whole event ≤ 512 KB ("api-limits" in the overview).
SUMMARY = Budget(1_024)
DEDUP_KEY_CHARS = 255
BODY_BYTES = 512_000
# Fields PagerDuty shows as headings (source, component, group, class): kept short.
_FIELD = Budget(255)
# Room for the routing key and the JSON around the custom details.
_ENVELOPE_ROOM = 256
# "retrying 3 times with each request being 30 seconds apart" (overview, rate limits),
# when a 429 does not say how long to wait.
RATE_LIMIT_WAIT = 30.0
# Severity labels as monitoring systems spell them -> PagerDuty's four severities.
SEVERITIES: dict[str, Severity] = {
    **dict.fromkeys(("critical", "fatal", "emergency", "page", "p1"), "critical"),
    **dict.fromkeys(("error", "high", "major", "p2"), "error"),
    **dict.fromkeys(("warning", "warn", "medium", "minor", "p3"), "warning"),
    **dict.fromkeys(("info", "informational", "low", "none", "p4", "p5"), "info"),
}


class PagerDutyConfig(HttpConfig):
    # ~120 events a minute per integration key (overview, "API limits").
    default_rate: ClassVar[tuple[int, float]] = (120, 60.0)
    # Each subject is its own incident: a few at once, each subject still in order.
    default_concurrency: ClassVar[int] = 4

    type: Literal["pagerduty"] = "pagerduty"
    url: SecretStr = SecretStr(DEFAULT_URL)
    # The Events API v2 integration key of a service (or a ruleset's routing key).
    routing_key: SecretStr
    # Severity of a failure whose event has no (known) `severity` label.
    default_severity: Severity = "error"
    # More `severity` label values and what they mean, beside the common spellings.
    severities: dict[str, Severity] = Field(default_factory=dict)

    @field_validator("routing_key")
    @classmethod
    def _integration_key(cls, key: SecretStr) -> SecretStr:
        value = key.get_secret_value()
        if value.strip() and not (len(value) == 32 and value.isalnum()):
            # PagerDuty refuses the event for this (400), every time: say so at load.
            raise SettingError(
                "routing_key is the 32-character integration key of an Events API v2 "
                "integration (not a REST API key)"
            )
        return key

    def enabled(self) -> bool:
        return secret_set(self.url) and secret_set(self.routing_key)


def action_of(event: Event) -> Action | None:
    """What PagerDuty is told of an event: trigger on a failure or a firing alert, resolve
    on success or resolution; None for progress (queued, running, cancelled, skipped)."""
    status = event.labels.get("status", "")
    if status in {"firing", "failure", "unstable"}:
        return "trigger"
    if status in {"resolved", "success"}:
        return "resolve"
    return None


def dedup_key(event: Event) -> str:
    """The subject an incident is about: an alert, or a pipeline (a job, an environment's
    deployments) on its branch; hashed to fit when too long."""
    labels = event.labels
    kind = labels.get("kind", "")
    if kind == "alert":
        key = event.fingerprint
    else:
        parts = [labels.get("source", ""), labels.get("project", ""), labels.get("pipeline", "")]
        if kind == "job":
            parts.append(labels.get("job", ""))
        if kind == "deployment":
            parts.append(labels.get("environment", ""))
        branch = labels.get("branch", "")
        key = "/".join(parts) + (f"@{branch}" if branch and kind != "deployment" else "")
    if len(key) <= DEDUP_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: DEDUP_KEY_CHARS - 17]}#{digest}"


class PagerDutyChannel(HttpChannel):
    type_name: ClassVar[str] = "pagerduty"
    config_model: ClassVar[type[ChannelConfig]] = PagerDutyConfig
    config: PagerDutyConfig
    # The template writes the incident's summary (plain text, ≤ 1,024 characters).
    template_name: ClassVar[str] = "pagerduty.txt.j2"
    markup: ClassVar[Kind] = "plain"

    def severity(self, event: Event) -> Severity:
        label = event.labels.get("severity", "").strip().lower()
        own = {k.lower(): v for k, v in self.config.severities.items()}
        if label in own:
            return own[label]
        if label in SEVERITIES:
            return SEVERITIES[label]
        if event.labels.get("status") == "unstable":
            return "warning"
        return self.config.default_severity

    def render_now(self, notification: Notification, budget: int | None = None) -> list[Message]:
        """One message per event PagerDuty is told of, each an Events API event within
        512 KB (or `budget`)."""
        limit = min(BODY_BYTES, budget or BODY_BYTES)
        template = self.template_for(notification)
        told = [(e, a) for e in notification.events if (a := action_of(e)) is not None]
        messages = []
        for index, (event, action) in enumerate(told, start=1):
            single = replace(notification, events=[event])
            title = summary_title(single, self.words)
            context = self.context(single, [event], title, "")
            summary = truncate(render_capped(template, context).strip() or title, SUMMARY, "…")
            body = self.event(event, action, summary, limit)
            messages.append(Message(summary, summary, body, single, limit, index, len(told)))
        return messages

    def event(self, event: Event, action: Action, summary: str, limit: int) -> dict[str, Any]:
        """The Events API event for `event`, without the routing key (added when sent)."""
        if action == "resolve":
            return {"event_action": "resolve", "dedup_key": dedup_key(event)}
        labels = event.labels
        source = labels.get("instance") or labels.get("cluster") or labels.get("project", "")
        payload: dict[str, Any] = {
            "summary": summary,
            "source": truncate(source or "signalbox", _FIELD, "…"),
            "severity": self.severity(event),
            "component": truncate(labels.get("pipeline", ""), _FIELD, "…"),
            "group": truncate(labels.get("project", ""), _FIELD, "…"),
            "class": labels.get("kind", ""),
        }
        if event.started_at is not None:
            payload["timestamp"] = event.started_at.isoformat()
        body: dict[str, Any] = {
            "event_action": "trigger",
            "dedup_key": dedup_key(event),
            "payload": payload,
            "client": "Signalbox",
        }
        if (link := http_url(event.url)) is not None:
            body["links"] = [{"href": link, "text": self.words.view}]
        details = {
            "note": self.words.note(event),
            "labels": dict(labels),
            "annotations": dict(event.annotations),
            "url": event.url or "",
            "duration": self.words.duration(event.duration_s),
            "not_listed": self.words.truncated(truncated_alerts([event])),
        }
        room = limit - json_len(body) - _ENVELOPE_ROOM
        payload["custom_details"] = fit_json(details, room) or {"note": "(too large to show)"}
        return body

    async def send(self, message: Message) -> DeliveryResult:
        body = {"routing_key": self.config.routing_key.get_secret_value(), **self.body_of(message)}
        response = await self.post_json(self.config.url.get_secret_value(), body)
        if response.status_code == 429 and "retry-after" not in response.headers:
            detail = self.redact(f"HTTP 429: {self.body_excerpt(response)}")
            raise TransientError(detail, retry_after=RATE_LIMIT_WAIT)
        self.check_status(response)
        return DeliveryResult(detail=f"HTTP {response.status_code} {body['event_action']}")
