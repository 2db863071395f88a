"""Alertmanager's webhook receiver (payload version 4): one Event per alert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from app.events import Event, Source, Status, base_labels
from app.sources.base import (
    STATUS_WORDS,
    Ignored,
    Int64,
    Malformed,
    MalformedJson,
    Payload,
    SourceAuth,
    Timestamp,
    decoded,
    load,
    map_status,
    require_authorization,
    span_seconds,
)

SUPPORTED_VERSION = "4"
ALERT_STATUSES: dict[str, Status] = {"firing": "firing", "resolved": "resolved"}
# Where the `project` label comes from, first present wins; the receiver is the last resort.
PROJECT_LABELS = ("project", "job", "service")

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF
_MASK = 0xFFFFFFFFFFFFFFFF


class _Alert(Payload):
    status: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: Timestamp = Field(None, alias="startsAt")
    ends_at: Timestamp = Field(None, alias="endsAt")
    generator_url: str | None = Field(None, alias="generatorURL")
    fingerprint: str | None = None


class AlertmanagerPayload(Payload):
    version: str
    receiver: str = ""
    group_key: str | None = Field(None, alias="groupKey")
    external_url: str | None = Field(None, alias="externalURL")
    # Absent before Alertmanager 0.21 (max_alerts); > 0 when alerts were left out.
    truncated_alerts: Int64 = Field(0, alias="truncatedAlerts")
    alerts: list[_Alert]


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's own fingerprint of a label set (FNV-1a 64 over sorted name/value pairs).

    Senders before 0.19 leave `fingerprint` out; computing the same hash keeps identities
    equal across Alertmanager versions.
    """
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8", "surrogatepass"):
                digest = ((digest ^ byte) * _FNV_PRIME) & _MASK
            digest = ((digest ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{digest:016x}"


def _event(alert: _Alert, index: int, group: AlertmanagerPayload) -> Event:
    status = map_status(ALERT_STATUSES, alert.status, f"alerts.{index}.status")
    own = alert.labels
    alertname = own.get("alertname") or "unnamed alert"
    project = next((own[name] for name in PROJECT_LABELS if own.get(name)), group.receiver)
    normalised = base_labels(
        source="alertmanager",
        kind="alert",
        status=status,
        project=project or "alertmanager",
        pipeline=alertname,
        severity=own.get("severity"),
    )
    labels = {**own, "receiver": group.receiver, **normalised}
    detail = (
        alert.annotations.get("summary")
        or own.get("summary")
        or alert.annotations.get("description")
        or own.get("instance")
    )
    title = f"{alertname} {STATUS_WORDS[status]}" + (f": {detail}" if detail else "")
    group_annotations = {
        "groupKey": group.group_key,
        "receiver": group.receiver,
        "externalURL": group.external_url,
        "truncated_alerts": str(group.truncated_alerts) if group.truncated_alerts > 0 else None,
    }
    # endsAt of a firing alert is at most a predicted expiry, not an end.
    finished = alert.ends_at if status == "resolved" else None
    return Event(
        fingerprint=alert.fingerprint or label_fingerprint(own),
        title=title,
        url=alert.generator_url or None,
        labels=labels,
        annotations={
            **alert.annotations,
            **{name: value for name, value in group_annotations.items() if value},
        },
        started_at=alert.starts_at,
        finished_at=finished,
        expires_at=alert.ends_at if status == "firing" else None,
        duration_s=span_seconds(alert.starts_at, finished),
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
