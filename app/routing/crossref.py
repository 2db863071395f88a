"""Checks that span sections: every channel and time interval a route names must exist.

These run on the raw decoded data, tolerating any shape, so they are reported together
with schema errors instead of only once the schema is right.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.routing.yamlsource import Loc

Problem = tuple[Loc, str]


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        yield from ((i, v) for i, v in enumerate(value) if isinstance(v, str))


def _mappings(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        yield from ((i, v) for i, v in enumerate(value) if isinstance(v, dict))


def cross_reference_errors(data: dict[str, Any]) -> list[Problem]:
    """Dangling channel / interval names and routes that name no receivers at all."""
    raw_channels = data.get("channels")
    channels = raw_channels if isinstance(raw_channels, dict) else {}
    problems: list[Problem] = []
    intervals: set[str] = set()
    for i, item in _mappings(data.get("time_intervals")):
        name = item.get("name")
        if name in intervals:
            problems.append((("time_intervals", i, "name"), f'duplicate time interval "{name}"'))
        if isinstance(name, str):
            intervals.add(name)
    for name, entry in channels.items():
        target = entry.get("fallback_channel") if isinstance(entry, dict) else None
        if isinstance(target, str) and (target not in channels or target == name):
            where = ("channels", name, "fallback_channel")
            problems.append((where, f'undefined fallback_channel "{target}" of channel "{name}"'))
    for i, name in _strings(data.get("fallback")):
        if name not in channels:
            problems.append((("fallback", i), f'undefined channel "{name}" in fallback'))
    problems.extend(_route_problems(data.get("routes"), (), "", channels, intervals, False))
    return problems


def _route_problems(
    routes: Any,
    loc: Loc,
    prefix: str,
    channels: dict[str, Any],
    intervals: set[str],
    inherited_to: bool,
) -> Iterator[Problem]:
    for index, route in _mappings(routes):
        here = (*loc, "routes", index)
        path = f"{prefix}{index}"
        has_to = inherited_to or "to" in route
        if not has_to:
            yield (
                here,
                f'route {path} names no receivers: add "to: [...]" '
                '(or "to: []" to drop what it matches)',
            )
        for i, name in _strings(route.get("to")):
            if name not in channels:
                yield (*here, "to", i), f'undefined channel "{name}" in route {path}'
        for key in ("mute_when", "active_when"):
            for i, name in _strings(route.get(key)):
                if name not in intervals:
                    yield (*here, key, i), f'undefined time interval "{name}" in route {path}'
        yield from _route_problems(
            route.get("routes"), here, f"{path}.", channels, intervals, has_to
        )
