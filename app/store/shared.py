"""What the bus keeps between restarts and shares between replicas.

A receiver's delivery work belongs to one live replica at a time (a lease); what that
owner knows — the news it told (dedup memory), its groups and their timers, when it last
sent (its rate-limit window) and any penalty a provider imposed — is written here, so a
restart or another replica taking the lease over carries on from the same state. The
events that inhibit others are tracked here when they are stored, by whichever replica
received them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class News:
    """The last news one route + receiver was told about one subject (dedup memory)."""

    route: str
    receiver: str
    subject: str
    news: str
    expires_at: float
    event_id: str


@dataclass(frozen=True)
class GroupState:
    """A group that outlives its flush: the firing alerts it repeats, and when it last
    sent. Its route's settings come from the config in force when it is resumed."""

    key: str
    route: str
    receiver: str
    labels: dict[str, str]
    order_key: str
    firing: list[str]  # event ids
    last_sent: float  # epoch seconds


@dataclass(frozen=True)
class Activity:
    """An event that may inhibit others (firing, failed) or ends such an activity."""

    key: str  # the alert or pipeline it is about
    event_id: str
    labels: dict[str, str]
    active: bool


class SharedWrites(Protocol):
    def remember_news(self, news: list[News]) -> None:
        """Insert or replace the news told per (route, receiver, subject)."""
        ...

    def forget_news(self, keys: list[tuple[str, str, str]]) -> None:
        """Drop the news of (route, receiver, subject): told with no dedup window."""
        ...

    def save_group(self, group: GroupState) -> None: ...

    def drop_group(self, key: str) -> None: ...

    def log_sends(self, receiver: str, times: list[float]) -> None:
        """Messages that reached the receiver's provider, for its rate-limit window."""
        ...

    def pause_receiver(self, receiver: str, until: float) -> None:
        """The provider said "too fast": nobody sends to it before `until`."""
        ...

    def track_activity(self, activity: list[Activity], now: float) -> None:
        """Record events that may inhibit others, and drop the ones that ended."""
        ...

    def hold_leases(
        self, owner: str, receivers: list[str], share: int, now: float, ttl: float
    ) -> dict[str, float]:
        """Renew `owner`'s leases on `receivers` and take lapsed ones, up to `share` in
        all; the receivers it holds now, with when each lease lapses."""
        ...

    def release_leases(self, owner: str, receivers: list[str] | None = None) -> None:
        """Give up leases (all of the owner's when `receivers` is None)."""
        ...

    def heartbeat(self, owner: str, now: float, ttl: float) -> int:
        """Say `owner` is alive; how many replicas are (seen within `ttl`), itself included."""
        ...


class SharedReads(Protocol):
    def news_of(self, receivers: list[str], now: float) -> list[News]:
        """The unexpired news told to these receivers."""
        ...

    def groups_of(self, receivers: list[str]) -> list[GroupState]: ...

    def recent_sends(self, receiver: str, since: float) -> list[float]: ...

    def paused_until(self, receiver: str) -> float:
        """When the provider's penalty ends (0: none)."""
        ...

    def active_sources(self, since: float) -> list[tuple[str, str, dict[str, str]]]:
        """(activity key, event id, labels) of the activities still going on, heard of
        since `since`."""
        ...

    def last_heard(self, fingerprints: list[str]) -> dict[str, float]:
        """When an event with each fingerprint was last received (epoch seconds)."""
        ...
