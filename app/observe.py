"""Turning what happens into metrics, with every label's cardinality bounded.

Prometheus keeps one series per label combination for ever; a label fed from payloads
(project, pipeline, branch) could otherwise grow without limit. Each such label keeps at
most `limit` distinct values: past it, counters report the value "other" and
signalbox_metric_label_overflow_total{label} counts each time that happened.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from app.events import KINDS, SOURCES, TERMINAL_STATUSES, Event
from app.metrics import (
    DELIVERIES,
    DELIVERY_ATTEMPTS,
    DELIVERY_OUTCOMES,
    ESCALATIONS_PENDING,
    EVENTS_DROPPED,
    EVENTS_RECEIVED,
    GROUPS_WAITING,
    LABEL_OVERFLOW,
    OLDEST_PENDING_AGE,
    PIPELINE_DURATION,
    PIPELINE_LAST_STATUS,
    PIPELINE_RUNS,
    PIPELINES_RUNNING,
    QUEUE_DEPTH,
    ROUTE_MATCHES,
    SILENCES,
)
from app.pipeline_state import split_pipeline_key
from app.store.base import StoreUnavailable
from app.store.oncall import SILENCE_STATES
from channels import CHANNEL_TYPES

if TYPE_CHECKING:
    from app.bus.worker import Bus
    from app.store import Store

OTHER = "other"
DEFAULT_LIMIT = 500
# A run still "running" after a day lost its final webhook; it no longer counts.
RUNNING_HORIZON = 86400.0


class BoundedLabel:
    """The first `limit` distinct values pass; later new ones become "other" (counted)."""

    def __init__(self, label: str, limit: int = DEFAULT_LIMIT) -> None:
        self.label = label
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) < self.limit:
            self._seen.add(value)
            return value
        LABEL_OVERFLOW.labels(self.label).inc()
        return OTHER


class LastStatus:
    """signalbox_pipeline_last_status: one series per pipeline+branch, the least recently
    updated one dropped when more than `limit` are tracked (a gauge may forget; a counter
    may not, which is why counters use BoundedLabel instead)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._last: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()

    def set(self, key: tuple[str, str, str, str], status: str) -> None:
        old = self._last.pop(key, None)
        if old == status:
            self._last[key] = status  # most recently updated now; the series stands
            return
        if old is not None:
            PIPELINE_LAST_STATUS.remove(*key, old)
        self._last[key] = status
        PIPELINE_LAST_STATUS.labels(*key, status).set(1)
        while len(self._last) > self.limit:
            gone, gone_status = self._last.popitem(last=False)
            PIPELINE_LAST_STATUS.remove(*gone, gone_status)
            LABEL_OVERFLOW.labels("pipeline").inc()


class Children:
    """A counter's children by label values, each looked up in the metric once.

    `metric.labels(...)` converts, checks and locks on every call; per event that added
    up. Only for metrics never cleared or removed from (a removed child would be kept
    here, counting for nobody), with label values bounded.
    """

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


def start_series(channel_types: Iterable[str]) -> None:
    """Create every series whose label values are known in advance, at 0.

    A counter series that first appears at 1 has no earlier sample: increase() and rate()
    see no change, so an alert on the first dead letter after a restart would never fire
    and the dashboard would show 0 dead letters.
    """
    for channel in channel_types:
        DELIVERY_ATTEMPTS.labels(channel)
        for outcome in DELIVERY_OUTCOMES:
            DELIVERIES.labels(channel, outcome)
    for source in SOURCES:
        EVENTS_DROPPED.labels(source)
        for kind in KINDS:
            EVENTS_RECEIVED.labels(source, kind)
    for label in ("project", "route", "pipeline"):
        LABEL_OVERFLOW.labels(label)


RECEIVED = Children(EVENTS_RECEIVED)
DROPPED = Children(EVENTS_DROPPED)
MATCHES = Children(ROUTE_MATCHES)
RUNS = Children(PIPELINE_RUNS)
PROJECTS = BoundedLabel("project")
ROUTES = BoundedLabel("route")
LAST_STATUS = LastStatus()
start_series(CHANNEL_TYPES)


def set_label_limit(limit: int) -> None:
    """Apply SIGNALBOX_METRICS_LABEL_LIMIT (metrics are process-wide, like the registry)."""
    PROJECTS.limit = ROUTES.limit = LAST_STATUS.limit = limit


def event_accepted(event: Event, decision: dict[str, Any], finished_run: bool) -> None:
    """Count one stored event: intake, routing, and the CI pipeline it reports."""
    RECEIVED(event.source, event.kind).inc()
    if decision.get("dropped"):
        DROPPED(event.source).inc()
    routes = ["fallback"] if decision.get("fallback") else decision.get("routes", [])
    for path in routes:
        MATCHES(ROUTES(str(path))).inc()
    if event.kind != "pipeline":
        return
    labels = event.labels
    LAST_STATUS.set(
        (event.source, labels["project"], labels["pipeline"], labels.get("branch", "")),
        event.status,
    )
    if finished_run and event.status in TERMINAL_STATUSES:
        project = PROJECTS(labels["project"])
        RUNS(event.source, project, event.status).inc()
        if event.duration_s is not None and event.duration_s >= 0:
            PIPELINE_DURATION.labels(event.source, project).observe(event.duration_s)


async def refresh_scrape_gauges(bus: Bus, store: Store, now: float | None = None) -> None:
    """Set the gauges that describe the present: read when Prometheus scrapes."""
    now = time.time() if now is None else now
    QUEUE_DEPTH.clear()
    for receiver, depth in bus.queue_depths().items():
        QUEUE_DEPTH.labels(receiver).set(depth)
    OLDEST_PENDING_AGE.set(bus.oldest_pending_age())
    GROUPS_WAITING.set(len(bus.grouper))
    ESCALATIONS_PENDING.set(len(bus.escalator))
    try:
        running = await store.read(lambda tx: tx.running_pipelines(since=now - RUNNING_HORIZON))
        silences = await store.read(lambda tx: tx.count_silences(now))
    except StoreUnavailable:
        return  # the database is down (said in the log): the last counts stand, /metrics serves
    for state in SILENCE_STATES:
        SILENCES.labels(state).set(silences.get(state, 0))
    PIPELINES_RUNNING.clear()
    for key, count in running.items():
        source, project, _, _ = split_pipeline_key(key)
        PIPELINES_RUNNING.labels(source, PROJECTS(project)).inc(count)
