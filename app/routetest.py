"""Route a pasted payload without storing or sending it: `signalbox route-test` and the console.

Both callers go through `route_payload`, so the CLI, the console and the server agree on
where an event would go (the decision itself comes from the same `decide()` the server uses),
and on what the server would refuse: the payload is read from its JSON text by the source's
own parser, as a webhook's body is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from starlette.datastructures import Headers

from app.routing.config import RoutingConfig
from app.routing.explain import Explanation, explain
from app.sources import resolve, source_keys
from app.sources.base import Ignored, JsonDocument, Malformed, MalformedJson, decoded


class CannotRoute(Exception):
    """The input cannot be routed: unknown source, unusable headers, or a payload that is
    not JSON (nested too deeply, lone surrogates, NaN) or not what the source sends."""


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
    text: str,
    headers: Mapping[str, str],
    overrides: Mapping[str, str],
    when: datetime,
) -> RouteTest:
    """Parse the JSON `text` as `source` (`github`, …, `generic/<name>`) would receive it
    and explain where each event goes.

    Stored history is not consulted: `transition` and `failure_streak` are only what the
    payload yields unless given in `overrides`.
    """
    found = resolve(source, config.sources)
    if found is None:
        known = ", ".join(source_keys(config.sources))
        raise CannotRoute(f"unknown source {source!r} (known: {known})")
    module, _auth = found
    payload = JsonDocument(text)
    try:
        events = module.parse(_headers(headers), payload)
    except Ignored as exc:
        # As the server does: ignored, unless the body is not JSON at all.
        _require_json(payload)
        return RouteTest(config.hash, ignored=str(exc))
    except MalformedJson as exc:
        raise CannotRoute(f"the payload is not JSON: {exc}") from exc
    except Malformed as exc:
        raise CannotRoute(f"cannot parse: {exc}") from exc
    routed = []
    for event in events:
        labels = {**event.labels, **overrides}
        routed.append(RoutedEvent(event.title, event.url, labels, explain(config, labels, when)))
    return RouteTest(config.hash, routed)


def _headers(given: Mapping[str, str]) -> Headers:
    try:
        return Headers(headers={k.lower(): v for k, v in given.items()})
    except UnicodeEncodeError as exc:
        # Header names and values are Latin-1 on the wire (RFC 9110 section 5.5).
        raise CannotRoute(f"a header is not Latin-1 text: {exc.object!r}") from exc


def _require_json(payload: JsonDocument) -> None:
    try:
        decoded(payload)
    except MalformedJson as exc:
        raise CannotRoute(f"the payload is not JSON: {exc}") from exc
