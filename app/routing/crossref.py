"""Checks that span sections: every channel and time interval a route names must exist.

These run on the raw decoded data, tolerating any shape, so they are reported together
with schema errors instead of only once the schema is right. Each problem comes with its
public form, which names no channel or interval (see app/routing/errors.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.routing.yamlsource import Loc

# (where, message quoting the file, public form quoting nothing from it)
Problem = tuple[Loc, str, str]


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        yield from ((i, v) for i, v in enumerate(value) if isinstance(v, str))


def _mappings(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        yield from ((i, v) for i, v in enumerate(value) if isinstance(v, dict))


def cross_reference_errors(data: dict[str, Any]) -> list[Problem]:
    """Dangling channel / interval names and routes that end up with no receivers at all."""
    raw_channels = data.get("channels")
    channels = raw_channels if isinstance(raw_channels, dict) else {}
    problems: list[Problem] = []
    intervals: set[str] = set()
    for i, item in _mappings(data.get("time_intervals")):
        name = item.get("name")
        if name in intervals:
            where = ("time_intervals", i, "name")
            problems.append((where, f'duplicate time interval "{name}"', "duplicate time interval"))
        if isinstance(name, str):
            intervals.add(name)
    for name, entry in channels.items():
        target = entry.get("fallback_channel") if isinstance(entry, dict) else None
        where = ("channels", name, "fallback_channel")
        if target == name:
            public = "a channel names itself as its fallback_channel (it must be another channel)"
            problems.append(
                (where, f'channel "{name}" names itself as its fallback_channel', public)
            )
        elif isinstance(target, str) and target not in channels:
            message = f'undefined fallback_channel "{target}" of channel "{name}"'
            problems.append((where, message, "undefined fallback_channel"))
    fallback = list(_strings(data.get("fallback")))
    for i, name in fallback:
        if name not in channels:
            message = f'undefined channel "{name}" in fallback'
            problems.append((("fallback", i), message, "undefined channel in fallback"))
    # Top-level routes inherit the root's receivers, which are `fallback:` (Alertmanager's
    # root receiver); with no fallback, a route must find a `to:` on its own way up.
    problems.extend(
        _route_problems(data.get("routes"), (), "", channels, intervals, bool(fallback))
    )
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
            message = (
                f"route {path} names no receivers, nor does any route above it, and there "
                'is no fallback: add "to: [...]" (or "to: []" to drop what it matches)'
            )
            yield here, message, message
        for i, name in _strings(route.get("to")):
            if name not in channels:
                message = f'undefined channel "{name}" in route {path}'
                yield (*here, "to", i), message, f"undefined channel in route {path}"
        for step, item in _mappings(route.get("escalate")):
            for i, name in _strings(item.get("to")):
                if name not in channels:
                    message = f'undefined channel "{name}" in route {path} escalate[{step}]'
                    public = f"undefined channel in route {path} escalate[{step}]"
                    yield (*here, "escalate", step, "to", i), message, public
        for key in ("mute_when", "active_when"):
            for i, name in _strings(route.get(key)):
                if name not in intervals:
                    message = f'undefined time interval "{name}" in route {path}'
                    yield (*here, key, i), message, f"undefined time interval in route {path}"
        yield from _route_problems(
            route.get("routes"), here, f"{path}.", channels, intervals, has_to
        )
