"""What the bus needs to know about one (route, receiver) an event was routed to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.events import Event
from app.pipeline_state import pipeline_key


@dataclass(frozen=True)
class Target:
    route: str
    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait: float = 0.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    dedup_window: float = 300.0
    send_resolved: bool = True
    resolve_timeout: float = 24 * 3600.0
    template: str | None = None
    # mute_when / active_when of the route at a time: why it is muted then, or None. None
    # instead of a function: the route is never muted.
    muted: Callable[[datetime], str | None] | None = field(default=None, compare=False)

    def group_key(self, event: Event) -> tuple[str, dict[str, str]]:
        """Which group of this target the event joins, and that group's labels."""
        if self.group_wait <= 0:
            # No batching: every event is its own group.
            return f"{self.route}|{self.receiver}|{event.id}", {}
        if "..." in self.group_by:
            labels = dict(event.labels)
        else:
            labels = {name: event.labels.get(name, "") for name in self.group_by}
        key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return f"{self.route}|{self.receiver}|{{{key}}}", labels

    def order_key(self, event: Event, group_key: str) -> str:
        """What this event's deliveries must stay in order with.

        A batching group is its own sequence. Without batching every event is its own
        group, so order follows the subject instead: one pipeline on one branch (its
        fix after its failure), or one alert.
        """
        if self.group_wait > 0:
            return group_key
        subject = event.fingerprint if event.kind == "alert" else pipeline_key(event.labels)
        return f"{self.route}|{self.receiver}|{subject}"


@dataclass(frozen=True)
class Dispatch:
    """One event owed to one target."""

    event: Event
    target: Target

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.event.id, self.target.route, self.target.receiver)
