"""Alertmanager's webhook receiver (payload version 4): one Event per alert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.events import Event, Source
from app.sources.alerting import Alert, AlertGroup, alert_event
from app.sources.base import (
    Ignored,
    Malformed,
    MalformedJson,
    SourceAuth,
    decoded,
    load,
    require_authorization,
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


class AlertmanagerSource:
    """Authorization: Bearer <token> (http_config.authorization) or Basic with the token as
    password (basic_auth); no delivery id is sent."""

    name: Source = "alertmanager"

    def verify(self, headers: Mapping[str, str], body: bytes, auth: SourceAuth) -> None:
        require_authorization(headers, auth)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return None

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        try:
            group = load(AlertmanagerPayload, payload, "Alertmanager webhook payload")
        except MalformedJson:
            raise
        except Malformed:
            # Another version's payload fails for reasons of its own: name the version.
            document = decoded(payload)
            if isinstance(document, dict):
                _require_version(document.get("version"))
            raise
        _require_version(group.version)
        if not group.alerts:
            raise Ignored("Alertmanager notification without alerts")
        return [_event(alert, index, group) for index, alert in enumerate(group.alerts)]


def _require_version(received: object) -> None:
    if received != SUPPORTED_VERSION:
        said = "no version" if received is None else f"version {str(received)[:20]!r}"
        raise Malformed(
            f"Alertmanager webhook payload has {said}; "
            f"only version {SUPPORTED_VERSION!r} is supported"
        )


SOURCE = AlertmanagerSource()
