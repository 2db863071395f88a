"""From a routing decision to what the bus must do: one Target per (route, receiver)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.bus.target import Target
from app.events import Event
from app.routing.config import RoutingConfig
from app.routing.tree import Route


@dataclass(frozen=True)
class Plan:
    decision: dict[str, Any]
    targets: list[Target]


def target_of(route: Route, receiver: str) -> Target:
    s = route.settings
    return Target(
        route=route.path,
        receiver=receiver,
        group_by=s.group_by,
        group_wait=s.group_wait.total_seconds(),
        group_interval=s.group_interval.total_seconds(),
        repeat_interval=s.repeat_interval.total_seconds(),
        dedup_window=s.dedup_window.total_seconds(),
        send_resolved=s.send_resolved,
        resolve_timeout=s.resolve_timeout.total_seconds(),
        template=s.template_source,
        # Most routes have no intervals: skip the clock check for them entirely.
        muted=route.muting if s.mute_when or s.active_when else None,
    )


def plan(config: RoutingConfig, event: Event) -> Plan:
    """Route one event under one config version."""
    decision = config.decide(event.labels)
    targets: dict[str, Target] = {}
    for route in decision.matches:
        for receiver in route.receivers:
            # A receiver reached by two matched routes is told once, by the first.
            targets.setdefault(receiver, target_of(route, receiver))
    return Plan({**decision.as_dict(), "config": config.hash}, list(targets.values()))


def route_templates(config: RoutingConfig) -> dict[str, str | None]:
    """Each route's template source, by path, for the bus."""
    return {route.path: route.settings.template_source for route in config.tree.walk()}


def resumer(config: RoutingConfig) -> Callable[[Event, str, str], Target]:
    """Targets for dispatches stored by an earlier process, under today's config."""
    by_path = {route.path: route for route in config.tree.walk()}

    def target_for(event: Event, path: str, receiver: str) -> Target:
        route = by_path.get(path)
        # The route was removed since: keep the receiver, with the default settings.
        return target_of(route or config.tree, receiver)

    return target_for
