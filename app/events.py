"""The common vocabulary every source produces and every later stage consumes."""

from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field

Labels = dict[str, str]

Source = Literal["github", "gitlab", "jenkins", "alertmanager", "grafana", "generic"]
Kind = Literal["pipeline", "job", "deployment", "alert"]
Status = Literal[
    "queued",
    "running",
    "success",
    "failure",
    "unstable",
    "cancelled",
    "skipped",
    "firing",
    "resolved",
]
Transition = Literal["broken", "still_failing", "fixed", "unchanged"]

SOURCES: tuple[Source, ...] = get_args(Source)
KINDS: tuple[Kind, ...] = get_args(Kind)
STATUSES: tuple[Status, ...] = get_args(Status)
# A run in one of these has finished; later deliveries for it cannot move it back.
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {"success", "failure", "unstable", "cancelled", "skipped"}
)
FAILED_STATUSES: frozenset[str] = frozenset({"failure", "unstable"})


# A random per-process prefix and a counter make ids unique without a syscall per id
# (uuid4 reads the kernel's entropy pool each time, a measurable cost on the hot path).
_ID_PREFIX = os.urandom(2).hex()
_id_counter = itertools.count()


def new_event_id() -> str:
    """A time-ordered id: sorting ids sorts events by arrival."""
    return f"{time.time_ns():019d}-{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFF:08x}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One thing that happened, as every source reports it.

    `labels` always holds `source`, `kind`, `status`, `project` and `pipeline`;
    routing matches on labels only.
    """

    id: str = Field(default_factory=new_event_id)
    fingerprint: str
    title: str
    url: str | None = None
    labels: Labels
    annotations: dict[str, str] = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # A firing alert's own endsAt: when its sender will take it as resolved unless it
    # hears again. Repeats stop after it (see resolve_timeout).
    expires_at: datetime | None = None
    duration_s: float | None = None
    received_at: datetime = Field(default_factory=utcnow)
    delivery_id: str | None = None
    # Identity and order of the CI run this event reports, used to compute
    # `transition` / `failure_streak`; None for alerts and deployments.
    run_id: str | None = None
    run_order: int | None = None
    # Why this event tells nothing new (its run had already reported this status, or had
    # finished before this progress update arrived); None when it is news. Stored and
    # shown, but nobody is notified of old news.
    old_news: str | None = None
    # Why an active source inhibits this event (judged when it was routed), or None.
    inhibited_by: str | None = None
    # The silence quieting it, and who acknowledged its trouble, when it was routed.
    silenced_by: str | None = None
    acked_by: str | None = None

    @property
    def source(self) -> str:
        return self.labels["source"]

    @property
    def kind(self) -> str:
        return self.labels["kind"]

    @property
    def status(self) -> str:
        return self.labels["status"]


def base_labels(
    *,
    source: Source,
    kind: Kind,
    status: Status,
    project: str,
    pipeline: str,
    **optional: str | None,
) -> Labels:
    """Build the normalised label set, dropping optional labels the payload lacked."""
    labels: Labels = {
        "source": source,
        "kind": kind,
        "status": status,
        "project": project,
        "pipeline": pipeline,
    }
    for name, value in optional.items():
        if value is not None and value != "":
            labels[name] = value
    return labels
