"""From a routing decision to what the bus must do: one Target per (route, receiver).

Inhibition is judged here too, with the routing: off the event loop (app/ingest.py runs
it on the store's reader thread) and against the activity every replica records, so a
ClusterDown received by one replica mutes the pod alerts another one receives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.bus.target import Target
from app.events import FAILED_STATUSES, Event
from app.oncall.judge import QUIET, Verdict, judge
from app.oncall.subjects import subject_key
from app.routing.config import RoutingConfig
from app.routing.inhibit import inhibition
from app.routing.matchers import first_failure
from app.routing.tree import Route
from app.store import ReadTx
from app.store.shared import Activity
from channels.mentions import Mention

# An alert nobody resolves stops inhibiting others after a day without news (Alertmanager
# re-sends a firing alert every repeat_interval, 4h by default).
ACTIVITY_SECONDS = 86400.0

PlanFn = Callable[[Event, ReadTx], "Plan"]
# (route path, the events of a notification) -> the people to @ in it.
Mentioner = Callable[[str, Sequence[Event]], tuple[Mention, ...]]


@dataclass(frozen=True)
class Plan:
    decision: dict[str, Any]
    targets: list[Target]
    # Why the event is inhibited (by which event, under which rule), or None.
    inhibited_by: str | None = None
    # What the event starts or ends as a possible inhibitor, to record with it.
    activity: Activity | None = None
    # Silenced, acknowledged, escalation started or trouble ended (app/oncall/judge.py).
    oncall: Verdict = QUIET


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


def plan(config: RoutingConfig, event: Event, history: ReadTx) -> Plan:
    """Route one event under one config version, and judge its inhibition."""
    decision = config.decide(event.labels)
    targets: dict[str, Target] = {}
    for route in decision.matches:
        for receiver in route.receivers:
            # A receiver reached by two matched routes is told once, by the first.
            targets.setdefault(receiver, target_of(route, receiver))
    inhibited_by, activity = None, None
    if config.inhibit_rules:
        since = event.received_at.timestamp() - ACTIVITY_SECONDS
        inhibited_by = _inhibited_by(config, event, history.active_sources(since))
        activity = _activity(config, event)
    return Plan(
        {**decision.as_dict(), "config": config.hash},
        list(targets.values()),
        inhibited_by,
        activity,
        judge(event, decision.matches, history, inhibited_by is not None),
    )


def _inhibited_by(
    config: RoutingConfig, event: Event, sources: list[tuple[str, str, dict[str, str]]]
) -> str | None:
    own = subject_key(event)
    found = inhibition(
        config.inhibit_rules,
        event.labels,
        ((event_id, labels) for key, event_id, labels in sources if key != own),
    )
    if found is None:
        return None
    index, source = found
    return f"inhibited by event {source} under inhibit_rules[{index}]"


def _activity(config: RoutingConfig, event: Event) -> Activity | None:
    """An alert firing or a pipeline failing may inhibit; its resolution or fix ends that."""
    status = event.status
    starts = (event.kind == "alert" and status == "firing") or (
        event.kind == "pipeline" and status in FAILED_STATUSES
    )
    if starts:
        # Only what some rule could take as a source is worth recording.
        if not any(
            first_failure(rule.source_matchers, event.labels) is None
            for rule in config.inhibit_rules
        ):
            return None
        return Activity(subject_key(event), event.id, dict(event.labels), active=True)
    if status in {"resolved", "success"}:
        return Activity(subject_key(event), event.id, {}, active=False)
    return None


def route_templates(config: RoutingConfig) -> dict[str, str | None]:
    """Each route's template source, by path, for the bus."""
    return {route.path: route.settings.template_source for route in config.tree.walk()}


def route_mentions(config: RoutingConfig) -> Mentioner:
    """Whom each route's `mention:` names in a notification's events, under this config
    (a route removed since names no one)."""
    specs = {route.path: route.settings.mention for route in config.tree.walk()}

    def mentions(path: str, events: Sequence[Event]) -> tuple[Mention, ...]:
        spec = specs.get(path, ())
        return config.people.mentions(spec, events) if spec else ()

    return mentions


def resumer(config: RoutingConfig) -> Callable[[Event, str, str], Target]:
    """Targets for dispatches stored earlier (by this process, another replica or one
    that died), under today's config."""
    by_path = {route.path: route for route in config.tree.walk()}

    def target_for(event: Event, path: str, receiver: str) -> Target:
        route = by_path.get(path)
        # The route was removed since: keep the receiver, with the default settings.
        return target_of(route or config.tree, receiver)

    return target_for
