"""What a poller gives the scheduler: the runs it sees, as their webhooks would post them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from app.pollers.api import Api
from app.pollers.spec import PollSpec, Target


@dataclass(frozen=True)
class Sighting:
    """One run as the API shows it now."""

    key: str  # the run within its target, e.g. "folder/app#18", "gitlab.com/1:287"
    # Changes whenever the run's status does: a sighting whose version was seen before is
    # not news.
    version: str
    # When the run last changed, epoch seconds; None when the API does not say.
    changed_at: float | None
    # What the CI system's webhook would post for it (headers lower-case), parsed by the
    # same source module (app/sources/) as a webhook: the same Event.
    headers: dict[str, str]
    payload: dict[str, Any]
    # When the list the run was seen in lacks some of what its webhook carries: fetched
    # only when the sighting is news (GitLab's single pipeline has `tag` and `duration`).
    details: Callable[[], Awaitable[dict[str, Any]]] | None = None


@dataclass
class Seen:
    """What a poll found. `complete`: the sightings are every run the target shows (runs
    seen before and absent now are gone for good and forgotten); otherwise only those that
    changed since the cursor (or none: the API said nothing changed)."""

    sightings: list[Sighting] = field(default_factory=list)
    complete: bool = False


class Poller(Protocol):
    async def poll(
        self, api: Api, spec: PollSpec, target: Target, state: dict[str, Any], now: float
    ) -> Seen:
        """Ask the API about `target`, updating `state` (its cursors, ETags, caches: saved
        in the store when the poll's news has been stored). Raises PollError."""
        ...

    def auth_headers(self, spec: PollSpec) -> dict[str, str]:
        """The headers that carry the credentials and the API version wanted."""
        ...


def epoch(value: object) -> float | None:
    """An ISO 8601 timestamp from an API as epoch seconds; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def iso(epoch_seconds: float) -> str:
    """Epoch seconds as the ISO 8601 UTC timestamp APIs take (`2019-03-15T08:00:00Z`)."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
