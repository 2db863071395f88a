"""What the CI pollers (app/pollers/) keep between polls and share between replicas.

A poll target (a Jenkins job, a GitLab project or group, a GitHub repository) is polled
by one replica at a time: the one holding its claim, taken in the store when the target
is due and given back when the poll ends, or lapsing `ttl` after a replica died
mid-poll. What the poll learnt — cursors, ETags, the runs it saw and their status — is
saved as the claim is given back, so a restart or another replica goes on from there.

Each polled CI system has one row more, its health: the circuit breaker (consecutive
failures, since when it is down) and the pause its rate limit imposes, which every
replica polling one of its targets honours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class PollTarget:
    """One target's row: its poller's memory and how its last polls went."""

    target: str  # "<source>:<what>", e.g. "github:octo-org/octo-repo"
    source: str
    # The poller's own memory (cursors, ETags, runs seen); {} before the first poll.
    state: dict[str, Any] = field(default_factory=dict)
    last_attempt: float | None = None
    last_success: float | None = None
    # No poll before this (a target-level error backs it off); 0: none.
    retry_at: float = 0.0
    failures: int = 0
    last_error: str | None = None
    owner: str | None = None
    lease_until: float = 0.0


@dataclass(frozen=True)
class SourceHealth:
    """One polled CI system: its circuit breaker and its rate-limit pause."""

    source: str
    failures: int = 0  # consecutive polls that could not reach it
    down_since: float | None = None  # breaker open since; None: up
    paused_until: float = 0.0  # nothing is polled before (breaker open, rate limited)
    pause_reason: str | None = None
    last_error: str | None = None
    rate_remaining: int | None = None  # the API's own count, when it gives one
    rate_reset: float | None = None


class PollWrites(Protocol):
    def claim_poll(
        self,
        target: str,
        source: str,
        owner: str,
        now: float,
        ttl: float,
        due_before: float | None,
    ) -> PollTarget | None:
        """Take the target's claim for `ttl` seconds, if nobody else holds it and it is due
        (not attempted after `due_before`, no backoff pending; `due_before` None: due now
        whatever its schedule, for a breaker's probe). The row, made if missing, or None."""
        ...

    def finish_poll(self, owner: str, done: PollTarget) -> PollTarget | None:
        """Save `done`'s state and outcome and give its claim back, if `owner` still holds
        it; the row as it was before, or None when the claim was lost meanwhile."""
        ...

    def release_polls(self, owner: str) -> None:
        """Give every claim of `owner` back (shutting down)."""
        ...

    def lock_source_health(self, source: str) -> SourceHealth:
        """The source's health, made if missing, locked until the transaction ends (so
        replicas judging one breaker take turns)."""
        ...

    def save_source_health(self, health: SourceHealth) -> None: ...


class PollReads(Protocol):
    def poll_targets(self, targets: list[str]) -> list[PollTarget]:
        """The rows of these targets that exist."""
        ...

    def sources_health(self) -> list[SourceHealth]: ...
