"""Alertmanager's webhook receiver (payload version 4): one Event per alert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.events import Event, Source
from app.sources.alerting import Alert, AlertGroup, AlertingSource, alert_event, load_versioned
from app.sources.base import (
    Ignored,
    Malformed,
)

SUPPORTED_VERSION = "4"


class AlertmanagerPayload(AlertGroup):
    version: str
    alerts: list[Alert]


def _event(alert: Alert, index: int, group: AlertmanagerPayload) -> Event:
    return alert_event(
        "alertmanager",
        alert,
        index,
        group,
        url=alert.generator_url or None,
        annotations={**alert.annotations, **group.annotations()},
    )


class AlertmanagerSource(AlertingSource):
    """http_config.authorization (Bearer) or basic_auth (the token as password)."""

    name: Source = "alertmanager"

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        group = load_versioned(
            AlertmanagerPayload, payload, "Alertmanager webhook payload", _require_version
        )
        if not group.alerts:
            raise Ignored("Alertmanager notification without alerts")
        return [_event(alert, index, group) for index, alert in enumerate(group.alerts)]


def _require_version(document: dict[str, Any]) -> None:
    received = document.get("version")
    if received != SUPPORTED_VERSION:
        said = "no version" if received is None else f"version {str(received)[:20]!r}"
        raise Malformed(
            f"Alertmanager webhook payload has {said}; "
            f"only version {SUPPORTED_VERSION!r} is supported"
        )


SOURCE = AlertmanagerSource()
