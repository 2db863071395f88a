"""What Alertmanager's and Grafana's webhooks share: one alert's shape, its labels, title
and fingerprint. Grafana-managed alerting runs an embedded Alertmanager and sends its
notification data with a few fields more (grafana/alerting `templates/template_data.go`,
https://github.com/grafana/alerting), so one Event per alert is built alike for both."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import Field

from app.events import Event, Source, Status, base_labels
from app.sources.base import (
    STATUS_WORDS,
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

P = TypeVar("P", bound=Payload)

ALERT_STATUSES: dict[str, Status] = {"firing": "firing", "resolved": "resolved"}
# Where the `project` label comes from, first present wins; the receiver is the last resort.
PROJECT_LABELS = ("project", "job", "service")

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF
_MASK = 0xFFFFFFFFFFFFFFFF


class Alert(Payload):
    """One entry of `alerts[]`."""

    status: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: Timestamp = Field(None, alias="startsAt")
    ends_at: Timestamp = Field(None, alias="endsAt")
    generator_url: str | None = Field(None, alias="generatorURL")
    fingerprint: str | None = None


class AlertGroup(Payload):
    """The notification around the alerts: which group of which receiver."""

    receiver: str = ""
    group_key: str | None = Field(None, alias="groupKey")
    external_url: str | None = Field(None, alias="externalURL")
    # Absent before Alertmanager 0.21 (max_alerts); > 0 when alerts were left out.
    truncated_alerts: Int64 = Field(0, alias="truncatedAlerts")

    def annotations(self) -> dict[str, str]:
        """What every alert of the group is annotated with."""
        group = {
            "groupKey": self.group_key,
            "receiver": self.receiver,
            "externalURL": self.external_url,
            "truncated_alerts": str(self.truncated_alerts) if self.truncated_alerts > 0 else None,
        }
        return {name: value for name, value in group.items() if value}


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


def alert_event(
    source: Source,
    alert: Alert,
    index: int,
    group: AlertGroup,
    *,
    url: str | None,
    annotations: Mapping[str, str],
    project_labels: tuple[str, ...] = PROJECT_LABELS,
) -> Event:
    """The Event of `alerts[index]`: every label of the alert plus the normalised ones
    (`project` from the first of `project_labels` present, else the receiver; `pipeline`
    the alertname; `severity` as labelled), its own status, and its fingerprint or
    Alertmanager's hash of its labels. `annotations` are the caller's, complete."""
    status = map_status(ALERT_STATUSES, alert.status, f"alerts.{index}.status")
    own = alert.labels
    alertname = own.get("alertname") or "unnamed alert"
    project = next((own[name] for name in project_labels if own.get(name)), group.receiver)
    normalised = base_labels(
        source=source,
        kind="alert",
        status=status,
        project=project or source,
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
    # endsAt of a firing alert is at most a predicted expiry, not an end.
    finished = alert.ends_at if status == "resolved" else None
    return Event(
        fingerprint=alert.fingerprint or label_fingerprint(own),
        title=title,
        url=url,
        labels=labels,
        annotations=dict(annotations),
        started_at=alert.starts_at,
        finished_at=finished,
        expires_at=alert.ends_at if status == "firing" else None,
        duration_s=span_seconds(alert.starts_at, finished),
    )


class AlertingSource:
    """Authorization: Bearer <token> or Basic with the token as password, as both
    Alertmanager (http_config.authorization, basic_auth) and Grafana's contact point send
    it; neither sends a delivery id."""

    def verify(self, headers: Mapping[str, str], body: bytes, auth: SourceAuth) -> None:
        require_authorization(headers, auth)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return None


def load_versioned(
    model: type[P], payload: Any, what: str, check: Callable[[dict[str, Any]], None]
) -> P:
    """The payload as `model`, its version checked by `check`; a body of another shape is
    refused by `check` first, naming what it is (another version, another sender)."""
    try:
        group = load(model, payload, what)
    except MalformedJson:
        raise
    except Malformed:
        # Another shape fails for reasons of its own: say which shape it is.
        document = decoded(payload)
        if isinstance(document, dict):
            check(document)
        raise
    check({"version": getattr(group, "version", None)})
    return group
