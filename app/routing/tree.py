"""The compiled route tree and the one routing decision every caller uses.

Semantics are Alertmanager's `Route.Match`: depth-first; among siblings the first match
wins unless it has `continue: true`; when a route matches but none of its children do,
the route itself is the result. The root is implicit: it matches everything and its
receivers are `fallback:`, so an event no route matches lands on the root, and a route
that names no receivers in its whole chain inherits the fallback's (Alertmanager's root
receiver).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeAlias

import jinja2

from app.routing.intervals import NamedInterval, is_active
from app.routing.matchers import Matcher, first_failure

FALLBACK_PATH = "fallback"

# Called for every route the matcher evaluates, with the matcher that failed (or None).
Visitor: TypeAlias = Callable[["Route", Matcher | None], None]


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """A route's effective settings: its own, else inherited from its parent, else defaults."""

    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    dedup_window: timedelta
    send_resolved: bool
    resolve_timeout: timedelta
    mute_when: tuple[NamedInterval, ...] = ()
    active_when: tuple[NamedInterval, ...] = ()
    template: jinja2.Template | None = field(default=None, compare=False)
    template_source: str | None = None
    # (after in seconds, receivers) per `escalate:` step, in order.
    escalate: tuple[tuple[float, tuple[str, ...]], ...] = ()
    # Where to find the people to @ in each event (`actor`, `label:owner`).
    mention: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """One node of the tree; `path` is its position in routes.yaml, e.g. "2.1".

    `inherits_fallback`: neither this route nor any above it sets `to`, so its receivers
    are the fallback's.
    """

    path: str
    matchers: tuple[Matcher, ...]
    settings: RouteSettings
    continue_: bool = False
    children: tuple[Route, ...] = ()
    inherits_fallback: bool = False

    @property
    def receivers(self) -> tuple[str, ...]:
        return self.settings.receivers

    @property
    def is_fallback(self) -> bool:
        return self.path == FALLBACK_PATH

    def match(self, labels: Mapping[str, str], visit: Visitor | None = None) -> list[Route]:
        """The deepest matching routes under (and including) this one; [] if it fails."""
        failed = first_failure(self.matchers, labels)
        if visit is not None:
            visit(self, failed)
        if failed is not None:
            return []
        found: list[Route] = []
        for child in self.children:
            matches = child.match(labels, visit)
            found.extend(matches)
            if matches and not child.continue_:
                break
        return found or [self]

    def muted_at(self, when: datetime) -> bool:
        """True when a `mute_when` interval is active, or `active_when` is set and none is."""
        return self.muting(when) is not None

    def muting(self, when: datetime) -> str | None:
        """Why the route is muted at `when` (naming the interval), or None."""
        s = self.settings
        for interval in s.mute_when:
            if is_active(interval, when):
                return f"mute_when {interval.name} is active"
        if s.active_when and not any(is_active(i, when) for i in s.active_when):
            names = ", ".join(i.name for i in s.active_when)
            return f"outside active_when {names}"
        return None

    def walk(self) -> list[Route]:
        """This route and every descendant, depth-first in file order."""
        return [self, *(r for child in self.children for r in child.walk())]


# A match is the matched node itself: immutable, with its path, receivers and settings.
RouteMatch: TypeAlias = Route


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where one event goes. `routes` lists matched route paths (never the fallback);
    `fallback` is set when no route matched; `dropped` when no route matched and there is
    no fallback (the caller counts those). `inherited_fallback` lists the matched routes
    whose receivers are the fallback's because no `to` is set in their chain."""

    routes: list[str]
    receivers: list[str]
    matches: list[RouteMatch]
    fallback: bool
    dropped: bool

    @property
    def inherited_fallback(self) -> list[str]:
        return [m.path for m in self.matches if m.inherits_fallback]

    def as_dict(self) -> dict[str, object]:
        return {
            "routes": self.routes,
            "receivers": self.receivers,
            "fallback": self.fallback,
            "dropped": self.dropped,
            "inherited_fallback": self.inherited_fallback,
        }


def decide(root: Route, labels: Mapping[str, str], visit: Visitor | None = None) -> RoutingDecision:
    """Route one event's labels through the tree rooted at `root`. Pure: no clock, no I/O."""
    matches = root.match(labels, visit)
    fallback = matches == [root]
    if fallback and not root.receivers:
        return RoutingDecision([], [], [], fallback=True, dropped=True)
    # A receiver named by two matched routes is listed once, in first-seen order.
    receivers = list(dict.fromkeys(r for m in matches for r in m.receivers))
    routes = [] if fallback else [m.path for m in matches]
    return RoutingDecision(routes, receivers, matches, fallback=fallback, dropped=False)
