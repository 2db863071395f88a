"""What the on-call loop keeps: silences, acknowledgements and escalation steps.

All of it lives in the store, so it survives restarts and every replica sees the same:
a silence made on one replica quiets what another receives, an escalation step is fired
by whichever replica holds its receiver's lease, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

SilenceState = Literal["active", "pending", "expired"]
SILENCE_STATES: tuple[SilenceState, ...] = ("active", "pending", "expired")


@dataclass(frozen=True)
class Silence:
    """Quiets every event whose labels match all `matchers` between starts_at and ends_at
    (epoch seconds); matchers are routes.yaml's matcher syntax."""

    id: str
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    updated_at: float

    def state(self, now: float) -> SilenceState:
        if now >= self.ends_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"


@dataclass(frozen=True)
class Ack:
    """Someone owns a subject's trouble until it resolves (or is fixed): `ended_at` set.

    `incarnation` is the trouble's start for an alert (its startsAt): a later firing with
    another start is new trouble, whatever became of this ack. "" for a pipeline: its
    trouble lasts until it is fixed.
    """

    id: str
    subject: str
    incarnation: str
    event_id: str
    by: str
    comment: str
    at: float
    ended_at: float | None = None
    ended_by: str | None = None


StepState = Literal["pending", "fired", "stopped"]


@dataclass(frozen=True)
class Step:
    """One escalation step for one receiver: sent at `due_at` unless stopped before."""

    id: str
    subject: str
    incarnation: str
    route: str
    step: int  # 1-based position in the route's `escalate` list
    receiver: str
    event_id: str  # the event that opened the trouble
    after: float  # seconds after the opening event
    due_at: float
    state: StepState = "pending"
    # Why it stopped (acknowledged by …, resolved by …), or the delivery it fired.
    note: str | None = None
    done_at: float | None = None
    # Its trouble ended (resolved, fixed): the next opening event escalates afresh.
    closed: bool = False


@dataclass(frozen=True)
class Told:
    """A receiver that was sent a delivery carrying an event."""

    receiver: str
    channel_type: str
    route: str


class OncallReads(Protocol):
    def oncall_version(self) -> str:
        """Changes whenever a silence or an acknowledgement is written or ended."""
        ...

    def live_silences(self, now: float) -> list[Silence]:
        """Silences active or pending at `now`."""
        ...

    def list_silences(self, *, state: SilenceState | None, now: float, limit: int) -> list[Silence]:
        """Silences in `state` at `now` (all when None): active and pending ones ending
        first, then expired ones, most recently ended first."""
        ...

    def get_silence(self, silence_id: str) -> Silence | None: ...

    def count_silences(self, now: float) -> dict[SilenceState, int]:
        """How many silences are in each state at `now` (expired ones until pruned)."""
        ...

    def active_acks(self) -> list[Ack]:
        """Acknowledgements not ended."""
        ...

    def acks_of(self, subjects: list[str]) -> list[Ack]:
        """Every acknowledgement of these subjects, newest first."""
        ...

    def steps_for(self, event_ids: list[str], subjects: list[str]) -> list[Step]:
        """Escalation steps these events opened, and those of these subjects' trouble
        still open, by due time."""
        ...

    def pending_steps(self, receivers: list[str]) -> list[Step]:
        """Steps still to fire for these receivers, soonest first."""
        ...

    def trouble_ended(self, subject: str) -> tuple[float, str] | None:
        """When the subject's trouble last ended (the ending event's arrival) and why."""
        ...

    def told(self, event_ids: list[str]) -> list[Told]:
        """Who was sent (state sent) a delivery carrying one of these events."""
        ...

    def events_of_fingerprint(self, fingerprint: str, since: float) -> list[str]:
        """Ids of the events with this fingerprint received at or after `since`."""
        ...


class OncallWrites(OncallReads, Protocol):
    def save_silence(self, silence: Silence) -> None:
        """Insert or replace a silence; the on-call version changes."""
        ...

    def add_ack(self, ack: Ack) -> None:
        """Record an acknowledgement; the on-call version changes."""
        ...

    def end_trouble(self, subject: str, at: float, why: str) -> None:
        """Record that the subject's trouble ended (resolved, fixed) at `at`."""
        ...

    def end_acks(self, subject: str, now: float, why: str) -> int:
        """End the subject's acknowledgements (its trouble resolved); how many were."""
        ...

    def open_steps(self, steps: list[Step]) -> list[Step]:
        """Store the steps a trouble's opening event starts; those of a trouble already
        escalating (same subject, incarnation, route, step and receiver, not closed) are
        kept as they are. The steps stored."""
        ...

    def stop_steps(self, subject: str, now: float, why: str, close: bool) -> list[str]:
        """Stop the subject's pending steps, saying why; `close` (a resolution) also ends
        its trouble, so the next opening escalates afresh. Ids of the steps stopped."""
        ...

    def fire_step(self, step_id: str, now: float, note: str) -> bool:
        """Mark a pending step fired (False: it was fired or stopped meanwhile)."""
        ...

    def drop_step(self, step_id: str, now: float, why: str) -> bool:
        """Stop one pending step (silenced, stale) without ending its trouble."""
        ...

    def signing_key(self, name: str, candidate: str) -> str:
        """The key stored under `name`; `candidate` becomes it when there is none yet."""
        ...
