"""How much one routes.yaml may hold, so that no file can take the router down.

A 947-byte YAML alias bomb in nested `routes:` once grew the process to 3.2 GB: aliases
let a small file stand for an exponential tree, and validation walks the tree. Aliases,
the expanded node count and depth are checked on the parser's events before any node is
built (check_yaml_shape); routes, matchers, channels and inhibit rules are counted before
validation (count_problems); the file's size before parsing (config.py). Every bound is
far above what a real file needs — the repository's routes.yaml is 4 KB with 5 routes
and 167 nodes; bench_routing.py's 1,000 routes with two children each, 27,000 nodes —
and an error names the limit it hit. Documented in docs/routing.md ("Limits").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024
MAX_ALIASES = 1_000
# YAML nodes (scalars, lists, mappings) once every alias is expanded.
MAX_NODES = 250_000
# Nesting of YAML lists and mappings, aliases expanded: a route nested k deep sits at
# depth 2k + 1, so 64 leaves room for 30 levels of routes.
MAX_DEPTH = 64
MAX_ROUTES = 5_000
MAX_MATCHERS_PER_ROUTE = 100
# In every route and inhibit rule together.
MAX_MATCHERS = 50_000
MAX_CHANNELS = 1_000
MAX_INHIBIT_RULES = 1_000

Loc = tuple[int | str, ...]
Problem = tuple[Loc, str]


def too_many(what: str, count: int, limit: int) -> str:
    """The one wording every limit uses; it quotes only counts, so it is public as is."""
    return f"too many {what}: {count:,} (the limit is {limit:,})"


class LimitExceeded(Exception):
    """The YAML event stream broke a limit: compose nothing. `message` is public as is."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class _Open:
    """A list or mapping whose end event has not come yet."""

    anchor: str | None
    depth: int
    nodes_before: int
    deepest: int


def check_yaml_shape(text: str, loader: type[Any]) -> None:
    """Raise LimitExceeded when the document, aliases expanded, is too large or too deep.

    One pass over the parser's events (no tree): each anchored node's expanded size and
    height are remembered when it ends, and each alias adds them where it stands.
    """
    size: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)
    stack: list[_Open] = []
    nodes = aliases = 0

    def add(count: int, deepest: int, line: int) -> None:
        nonlocal nodes
        nodes += count
        if nodes > MAX_NODES:
            raise LimitExceeded(
                line, too_many("YAML nodes once aliases are expanded", nodes, MAX_NODES)
            )
        if deepest > MAX_DEPTH:
            raise LimitExceeded(line, too_many("levels of nesting", deepest, MAX_DEPTH))
        if stack:
            stack[-1].deepest = max(stack[-1].deepest, deepest)

    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        depth = len(stack) + 1
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise LimitExceeded(line, too_many("aliases", aliases, MAX_ALIASES))
            if event.anchor not in size:
                if any(o.anchor == event.anchor for o in stack):
                    message = "an alias inside its own anchor (a recursive structure)"
                    raise LimitExceeded(line, message)
                continue  # an undefined alias: the composer reports it
            count, height = size[event.anchor]
            add(count, depth - 1 + height, line)
        elif isinstance(event, yaml.ScalarEvent):
            add(1, depth, line)
            if event.anchor is not None:
                size[event.anchor] = (1, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            add(1, depth, line)
            size.pop(event.anchor or "", None)  # a reused name: the old node is no longer it
            stack.append(_Open(event.anchor, depth, nodes - 1, depth))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            if done.anchor is not None:
                size[done.anchor] = (nodes - done.nodes_before, done.deepest - done.depth + 1)
            if stack:
                stack[-1].deepest = max(stack[-1].deepest, done.deepest)


def count_problems(data: dict[str, Any]) -> list[Problem]:
    """Routes, matchers, channels and inhibit rules past their limits, tolerating any shape."""
    problems: list[Problem] = []
    channels = data.get("channels")
    if isinstance(channels, dict) and len(channels) > MAX_CHANNELS:
        problems.append((("channels",), too_many("channels", len(channels), MAX_CHANNELS)))
    rules = data.get("inhibit_rules")
    rules = rules if isinstance(rules, list) else []
    if len(rules) > MAX_INHIBIT_RULES:
        problems.append(
            (("inhibit_rules",), too_many("inhibit rules", len(rules), MAX_INHIBIT_RULES))
        )
    routes = 0
    matchers = 0
    first_over: Loc = ("routes",)
    for loc, route in _routes(data.get("routes"), ()):
        routes += 1
        if routes == MAX_ROUTES + 1:
            first_over = loc
        own = route.get("matchers")
        count = len(own) if isinstance(own, list) else 0
        if count > MAX_MATCHERS_PER_ROUTE:
            message = too_many("matchers in one route", count, MAX_MATCHERS_PER_ROUTE)
            problems.append(((*loc, "matchers"), message))
        matchers += count
    for rule in rules:
        if isinstance(rule, dict):
            matchers += sum(
                len(m)
                for m in (rule.get("source_matchers"), rule.get("target_matchers"))
                if isinstance(m, list)
            )
    if routes > MAX_ROUTES:
        # Pointing at the first route past the limit: where the file stops being accepted.
        problems.append((first_over, too_many("routes", routes, MAX_ROUTES)))
    if matchers > MAX_MATCHERS:
        problems.append(((), too_many("matchers in all", matchers, MAX_MATCHERS)))
    return problems


def _routes(routes: Any, loc: Loc) -> Iterator[tuple[Loc, dict[str, Any]]]:
    """Every route mapping, depth-first, with its location (depth is bounded by MAX_DEPTH)."""
    if not isinstance(routes, list):
        return
    for index, route in enumerate(routes):
        if isinstance(route, dict):
            here = (*loc, "routes", index)
            yield here, route
            yield from _routes(route.get("routes"), here)
