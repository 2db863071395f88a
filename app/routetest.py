"""Route a pasted payload without storing or sending it: `signalbox route-test` and the console.

Both callers go through `route_payload`, so the CLI, the console and the server agree on
where an event would go (the decision itself comes from the same `decide()` the server uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.datastructures import Headers

from app.routing.config import RoutingConfig
from app.routing.explain import Explanation, explain
from app.sources import SOURCE_MODULES
from app.sources.base import Ignored, Malformed


class CannotRoute(Exception):
    """The input cannot be routed: unknown source, or a payload the source cannot parse."""


@dataclass(frozen=True)
class RoutedEvent:
    title: str
    url: str | None
    labels: dict[str, str]
    explanation: Explanation


@dataclass(frozen=True)
class RouteTest:
    """What a payload would become: its events and their routing, or why it is ignored."""

    config_hash: str
    events: list[RoutedEvent] = field(default_factory=list)
    ignored: str | None = None


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    """`K=V` strings to a dict; raises ValueError naming the bad one."""
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} {value!r} is not K=V")
        pairs[key.strip()] = val
    return pairs


def route_payload(
    config: RoutingConfig,
    source: str,
    payload: Any,
    headers: Mapping[str, str],
    overrides: Mapping[str, str],
    when: datetime,
) -> RouteTest:
    """Parse `payload` as `source` would receive it and explain where each event goes.

    Stored history is not consulted: `transition` and `failure_streak` are only what the
    payload yields unless given in `overrides`.
    """
    module = SOURCE_MODULES.get(source)
    if module is None:
        raise CannotRoute(f"unknown source {source!r} (known: {', '.join(SOURCE_MODULES)})")
    lowered = Headers(headers={k.lower(): v for k, v in headers.items()})
    try:
        events = module.parse(lowered, payload)
    except Ignored as exc:
        return RouteTest(config.hash, ignored=str(exc))
    except Malformed as exc:
        raise CannotRoute(f"cannot parse: {exc}") from exc
    routed = []
    for event in events:
        labels = {**event.labels, **overrides}
        routed.append(RoutedEvent(event.title, event.url, labels, explain(config, labels, when)))
    return RouteTest(config.hash, routed)
