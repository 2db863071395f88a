"""Why an event went where it went: the routing decision plus a per-route trace.

Used by `signalbox route-test`; the decision comes from the same `decide()` the server
uses, the trace only observes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from app.routing.config import RoutingConfig
from app.routing.matchers import Matcher
from app.routing.tree import Route, RoutingDecision, decide


@dataclass(frozen=True)
class RouteTrace:
    """What happened at one route: not reached, failed on a matcher, or matched."""

    path: str
    reached: bool
    matched: bool
    selected: bool
    receivers: list[str]
    failed_matcher: str | None = None
    label: str | None = None
    actual: str | None = None  # the failed label's value; None when the label is missing
    muted: bool = False
    skipped_because: str | None = None
    # No `to` in its chain: its receivers are the fallback's.
    inherited_fallback: bool = False


@dataclass(frozen=True)
class Explanation:
    decision: RoutingDecision
    traces: list[RouteTrace]

    def as_dict(self) -> dict[str, object]:
        return {**self.decision.as_dict(), "trace": [asdict(t) for t in self.traces]}

    def lines(self) -> list[str]:
        """Readable lines: the verdict first, then every route."""
        d = self.decision
        if d.dropped:
            verdict = "no route matched and no fallback: dropped"
        elif d.fallback:
            verdict = f"no route matched: fallback → {', '.join(d.receivers)}"
        else:
            verdict = f"routes {', '.join(d.routes)} → {', '.join(d.receivers) or '(nobody)'}"
            if inherited := d.inherited_fallback:
                verdict += f" (route {', '.join(inherited)} names no receivers: the fallback's)"
        return [verdict, *(_describe(t) for t in self.traces)]


def _describe(trace: RouteTrace) -> str:
    head = f"  route {trace.path:<8}"
    if not trace.reached:
        return f"{head} not evaluated ({trace.skipped_because})"
    if not trace.matched:
        actual = "is not set" if trace.actual is None else f"is {trace.actual!r}"
        return f"{head} no match: {trace.failed_matcher} failed ({trace.label} {actual})"
    if not trace.selected:
        return f"{head} matched, refined by a child"
    mute = "  [muted now]" if trace.muted else ""
    inherited = " (inherited from fallback)" if trace.inherited_fallback else ""
    return f"{head} MATCHED → {', '.join(trace.receivers) or '(nobody)'}{inherited}{mute}"


def _skip_reason(path: str, visited: Mapping[str, Matcher | None]) -> str:
    parent = path.rpartition(".")[0]
    if parent and parent not in visited:
        return "its parent was not evaluated"
    if parent and visited[parent] is not None:
        return "its parent did not match"
    return "an earlier sibling matched"


def explain(config: RoutingConfig, labels: Mapping[str, str], when: datetime) -> Explanation:
    """Decide like the server does and record, per route, whether and why it matched."""
    visited: dict[str, Matcher | None] = {}

    def visit(route: Route, failed: Matcher | None) -> None:
        visited[route.path] = failed

    decision = decide(config.tree, labels, visit)
    selected = {m.path for m in decision.matches}
    traces = []
    for route in config.routes():
        reached = route.path in visited
        failed = visited.get(route.path)
        traces.append(
            RouteTrace(
                path=route.path,
                reached=reached,
                matched=reached and failed is None,
                selected=route.path in selected,
                receivers=list(route.receivers),
                failed_matcher=str(failed) if failed else None,
                label=failed.name if failed else None,
                actual=labels.get(failed.name) if failed else None,
                muted=route.path in selected and route.muted_at(when),
                skipped_because=None if reached else _skip_reason(route.path, visited),
                inherited_fallback=route.inherits_fallback,
            )
        )
    return Explanation(decision, traces)
