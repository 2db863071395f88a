"""Grafana-managed alerting's webhook contact point (payload version 1): one Event per alert.

The payload is Alertmanager's notification data plus Grafana's fields (`webhookMessage`
in grafana/alerting `receivers/webhook/v1/webhook.go`, https://github.com/grafana/alerting;
https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/).
Grafana 9 sends each alert's query results as `valueString` only; Grafana 10 and later add
them as numbers in `values`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from app.events import Event, Source
from app.sources.alerting import (
    PROJECT_LABELS,
    Alert,
    AlertGroup,
    AlertingSource,
    alert_event,
    load_versioned,
)
from app.sources.base import (
    Ignored,
    Int64,
    Malformed,
    extend_labels,
    http_url,
)

SUPPORTED_VERSION = "1"
# Grafana labels every alert with the folder of its rule: a project when nothing else says.
GRAFANA_PROJECT_LABELS = (*PROJECT_LABELS, "grafana_folder")
# Fields of the payload's legacy (dashboard) alerting, removed in Grafana 11.
_LEGACY_FIELDS = ("evalMatches", "ruleName", "ruleId")

Finite = Annotated[float, Field(allow_inf_nan=False)]


class GrafanaAlert(Alert):
    silence_url: str | None = Field(None, alias="silenceURL")
    dashboard_url: str | None = Field(None, alias="dashboardURL")
    panel_url: str | None = Field(None, alias="panelURL")
    image_url: str | None = Field(None, alias="imageURL")
    # map[string]float64 in Go: `null` when the rule has no values.
    values: dict[str, Finite] | None = None
    value_string: str | None = Field(None, alias="valueString")
    rule_uid: str | None = Field(None, alias="ruleUID")
    org_id: Int64 | None = Field(None, alias="orgId")


class GrafanaPayload(AlertGroup):
    version: str
    org_id: Int64 | None = Field(None, alias="orgId")
    # The contact point's rendered title and message, and "alerting" while any alert of
    # the group fires, else "ok".
    title: str | None = None
    state: str | None = None
    message: str | None = None
    alerts: list[GrafanaAlert]


def _number(value: float) -> str:
    """A query value as people write it: 2473545728, not 2473545728.0 or 2.473545728e+09."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _event(alert: GrafanaAlert, index: int, group: GrafanaPayload) -> Event:
    links = {
        "silenceURL": http_url(alert.silence_url),
        "dashboardURL": http_url(alert.dashboard_url),
        "panelURL": http_url(alert.panel_url),
        "imageURL": http_url(alert.image_url),
    }
    values = ", ".join(f"{name}={_number(v)}" for name, v in (alert.values or {}).items())
    grafana = {
        **links,
        "values": values,
        "valueString": alert.value_string,
        "ruleUID": alert.rule_uid,
        "grafana_title": group.title,
        "grafana_state": group.state,
        # The message tells the whole group: on an event of its own only when the group
        # is this one alert, not copied onto every alert of a large group.
        "grafana_message": group.message if len(group.alerts) == 1 else None,
    }
    event = alert_event(
        "grafana",
        alert,
        index,
        group,
        url=http_url(alert.generator_url),
        annotations={
            **alert.annotations,
            **group.annotations(),
            **{name: value for name, value in grafana.items() if value},
        },
        project_labels=GRAFANA_PROJECT_LABELS,
    )
    org = alert.org_id if alert.org_id is not None else group.org_id
    extend_labels(event.labels, org_id=org)
    return event


class GrafanaSource(AlertingSource):
    """The contact point's Authorization header settings (Bearer) or its Basic auth
    settings (the token as password)."""

    name: Source = "grafana"

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        group = load_versioned(GrafanaPayload, payload, "Grafana webhook payload", _require_version)
        if not group.alerts:
            raise Ignored("Grafana notification without alerts")
        return [_event(alert, index, group) for index, alert in enumerate(group.alerts)]


def _require_version(document: dict[str, Any]) -> None:
    received = document.get("version")
    if received == SUPPORTED_VERSION:
        return
    if received == "4":
        raise Malformed(
            "this is an Alertmanager webhook payload (version '4'): post it to /hooks/alertmanager"
        )
    if received is None and any(field in document for field in _LEGACY_FIELDS):
        raise Malformed(
            "Grafana legacy (dashboard) alerting payload: Signalbox reads the webhook of "
            "Grafana-managed alerting (version '1'); legacy alerting was removed in Grafana 11"
        )
    said = "no version" if received is None else f"version {str(received)[:20]!r}"
    raise Malformed(
        f"Grafana webhook payload has {said}; only version {SUPPORTED_VERSION!r} is "
        "supported (a contact point's custom payload template replaces it: post such "
        "bodies to /hooks/generic/<name>)"
    )


SOURCE = GrafanaSource()
