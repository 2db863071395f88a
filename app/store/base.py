"""The storage contract. Nothing outside app/store/ speaks SQL: it calls these methods.

Writes are functions run inside one transaction (`Store.write(fn)`), so a caller can read
history and write the result atomically (pipeline state needs that) without knowing SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from app.events import Event
from app.store.oncall import OncallReads, OncallWrites
from app.store.polls import PollReads, PollWrites
from app.store.shared import SharedReads, SharedWrites

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The store could not commit; callers must not acknowledge what they were storing."""


@dataclass(frozen=True)
class RunRecord:
    """The last known state of one CI run of one pipeline+branch."""

    run_id: str
    run_order: int | None
    status: str


# What DeliveryRecord.state holds; the API and the console filter deliveries by it.
DeliveryState = Literal["pending", "sent", "failed", "dead", "skipped", "folded"]


@dataclass
class DeliveryRecord:
    """One message (or digest) for one receiver: the unit that is sent, retried, replayed."""

    id: str
    receiver: str
    channel_type: str
    route: str
    group_key: str
    event_ids: list[str]
    state: str  # pending | sent | failed | dead | skipped | folded
    created_at: float
    group_labels: dict[str, str] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    last_error: str | None = None
    next_attempt_at: float | None = None
    is_fallback: bool = False
    folded: int = 0
    template: str | None = None
    # Messages of a split delivery already accepted: a retry resumes after them.
    parts_sent: int = 0
    # Deliveries of one receiver sharing this key go out one after another, in order.
    order_key: str = ""
    # The digest this delivery was folded into (state "folded").
    folded_into: str | None = None
    # Why it was sent besides its events' news: "escalation" (with its note, "escalated:
    # not acknowledged for 10m") or "acknowledgement" ("acknowledged by …"); "" for news.
    purpose: str = ""
    note: str | None = None


@dataclass(frozen=True)
class Suppression:
    """A receiver was not told of an event on purpose: which stage decided, and why."""

    event_id: str
    route: str
    receiver: str
    stage: str  # dedup, mute, inhibit, send_resolved, old_news, stale, …
    reason: str


# Deliveries in these states still have work to do after a restart.
OPEN_DELIVERY_STATES = ("pending", "failed")


@dataclass(frozen=True)
class Retention:
    """How long rows are kept, in seconds; see docs/operations.md."""

    events: float
    deliveries: float  # finished ones: sent, dead, skipped, folded
    dedup_keys: float
    pipeline_runs: float
    # Runs kept per pipeline+branch whatever their age: the longest streak reported.
    keep_runs: int = 1001
    # Expired silences, listed until then (Alertmanager keeps them 120 h).
    silences: float = 5 * 86400.0


class RunHistory(Protocol):
    """The stored runs of CI pipelines, as both kinds of transaction read them."""

    def generation(self, pipeline_key: str) -> int:
        """How many times a run of the pipeline was saved (0: never): equal generations,
        equal history."""
        ...

    def get_run(self, pipeline_key: str, run_id: str) -> RunRecord | None: ...

    def finished_runs_before(
        self, pipeline_key: str, run: RunRecord, limit: int
    ) -> list[RunRecord]:
        """Finished runs older than `run` (by run_order, then arrival), newest first."""
        ...


class WriteTx(RunHistory, SharedWrites, OncallWrites, PollWrites, Protocol):
    def remember_delivery(self, key: str) -> bool:
        """Remember a sender's delivery key; False when it was already remembered."""
        ...

    def save_run(self, pipeline_key: str, run: RunRecord) -> None:
        """Insert or update a run; the pipeline's generation goes up by one."""
        ...

    def insert_event(self, event: Event, routing: dict[str, Any]) -> None: ...

    def add_dispatches(self, event_id: str, targets: list[tuple[str, str]]) -> None:
        """Remember that (route, receiver) pairs still owe this event a delivery."""
        ...

    def insert_delivery(
        self, delivery: DeliveryRecord, dispatched: list[tuple[str, str, str]]
    ) -> bool:
        """Store a new delivery, tied to its events; the (event_id, route, receiver)
        dispatches it covers end. False, and nothing stored, when none of them was still
        open: another flush (another replica's, or a retried one) made their delivery."""
        ...

    def save_delivery(self, delivery: DeliveryRecord) -> None:
        """Store a delivery's new state and attempts."""
        ...

    def suppress(self, suppressed: list[Suppression]) -> None:
        """Record why receivers were not told of events; the matching dispatches end."""
        ...

    def prune(self, policy: Retention, now: float, batch: int) -> dict[str, int]:
        """Delete up to `batch` expired rows per table, never an event still owed a
        delivery; the number deleted, by table."""
        ...

    def reclaim_space(self, pages: int) -> int:
        """Return up to `pages` freed pages to the file system; how many were."""
        ...


class ReadTx(RunHistory, SharedReads, OncallReads, PollReads, Protocol):
    def list_events(
        self,
        *,
        limit: int,
        source: str | None = None,
        status: str | None = None,
        event_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, each as stored with its `routing` and its `outcomes` per receiver:
        the deliveries carrying it, the suppressions, and dispatches still waiting.
        `event_id` picks one."""
        ...

    def count_events(self) -> int: ...

    def events_by_ids(self, ids: list[str]) -> list[Event]: ...

    def events_since(self, *, since: float, kind: str, limit: int) -> list[Event]:
        """Events of `kind` received at or after `since` (epoch seconds), oldest first;
        the newest `limit` of them when there are more."""
        ...

    def list_deliveries(self, *, limit: int, state: str | None = None) -> list[DeliveryRecord]: ...

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None: ...

    def open_deliveries(self, receivers: list[str]) -> list[str]:
        """Ids of the pending and failed deliveries of these receivers, oldest first: what
        a restart or a takeover resumes."""
        ...

    def deliveries_by_ids(self, ids: list[str]) -> list[DeliveryRecord]:
        """The deliveries with these ids that exist, in the order asked."""
        ...

    def open_dispatches(self, receivers: list[str]) -> list[tuple[str, str, str]]:
        """(event_id, route, receiver) of these receivers not yet turned into a delivery,
        oldest first."""
        ...

    def running_pipelines(self, *, since: float) -> dict[str, int]:
        """Runs queued or running, first heard of at or after `since`, by pipeline key."""
        ...


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, fn: Callable[[WriteTx], T], urgent: bool = False) -> T:
        """Run `fn` in a transaction; its effects are durable when this returns. `fn` may
        run again in a new transaction when the database undid the first (a deadlock lost
        to another replica): its effects belong in `tx`. An `urgent` write goes ahead of
        those queued (a replica renewing its leases)."""
        ...

    async def read(self, fn: Callable[[ReadTx], T]) -> T: ...

    async def writable(self) -> bool:
        """Whether a write can be committed now (for /readyz)."""
        ...

    async def wake(self, receivers: set[str]) -> None:
        """Tell whichever replicas own these receivers that work was stored for them."""
        ...

    def on_wake(self, listener: Callable[[set[str]], None]) -> None:
        """Call `listener`, on the running event loop, with the receivers work was stored
        for by any replica (this one included)."""
        ...
