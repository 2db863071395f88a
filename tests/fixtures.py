"""Locate and load the webhook payload fixtures, plus the fuzzing strategies the source tests share.

The payloads live in `tests/payloads/` (public samples and real captures; where each came
from is in tests/payloads/SOURCES.md); set SIGNALBOX_FIXTURES to use another copy.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from app.events import Event
from app.sources.base import Ignored, Malformed

REPO = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    override = os.environ.get("SIGNALBOX_FIXTURES")
    return Path(override) if override else REPO / "tests" / "payloads"


def fixture_files(source: str) -> set[str]:
    """Every JSON fixture of a source, as paths relative to the fixtures dir."""
    root = fixtures_dir()
    return {path.relative_to(root).as_posix() for path in (root / source).rglob("*.json")}


@cache
def index() -> dict[str, dict[str, Any]]:
    """index.json's entries by file."""
    entries = json.loads((fixtures_dir() / "index.json").read_text("utf-8"))["fixtures"]
    return {entry["file"]: entry for entry in entries}


@dataclass(frozen=True)
class Delivery:
    """One fixture as it arrives: lower-cased headers, the raw body and its decoded JSON."""

    headers: dict[str, str]
    body: bytes
    payload: Any


def load(name: str) -> Delivery:
    """A fixture by relative path; captures give their recorded headers and exact body."""
    raw = (fixtures_dir() / name).read_bytes()
    if name.endswith(".capture.json"):
        capture = json.loads(raw)
        body = base64.b64decode(capture["body_raw_base64"])
        return Delivery(dict(capture["headers"]), body, json.loads(body))
    sent = index().get(name, {}).get("event_headers") or {}
    return Delivery({k.lower(): v for k, v in sent.items()}, raw, json.loads(raw))


def payload(name: str) -> Any:
    """A fresh, mutable copy of a fixture's decoded JSON."""
    return copy.deepcopy(load(name).payload)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@dataclass(frozen=True)
class RawNumber:
    """A JSON number written exactly as `text`: one Python cannot hold as a float (1e400) or
    print as an int (5,000 digits), so json.dumps could not write it."""

    text: str


# Numbers past what a source can keep: SQLite's INTEGER and orjson stop at signed 64 bits,
# Python's int() at 4,300 digits, a float at ~1.8e308 (beyond, it parses as infinity).
BEYOND_KEEPING = (
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    "9" * 5000,
    "-" + "9" * 5000,
    "1e400",
    "-1e400",
)
EXTREME_NUMBERS = st.sampled_from(
    (*BEYOND_KEEPING, str(2**63 - 1), str(-(2**63)), "1e-400", "0.5", "-1", "0")
).map(RawNumber)


def dumps(doc: Any) -> bytes:
    """`doc` as JSON bytes, each RawNumber written verbatim."""
    raw: dict[str, str] = {}

    def marked(value: Any) -> Any:
        if isinstance(value, RawNumber):
            marker = f"raw-number-{len(raw)}-{id(raw)}"
            raw[f'"{marker}"'] = value.text
            return marker
        if isinstance(value, dict):
            return {k: marked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [marked(v) for v in value]
        return value

    text = json.dumps(marked(doc))
    for marker, number in raw.items():
        text = text.replace(marker, number)
    return text.encode()


def number_paths(doc: Any) -> list[tuple[Any, ...]]:
    """Where `doc` holds a JSON number (not a boolean)."""
    return [
        path
        for path in _paths(doc)
        if isinstance(value := at(doc, path), int | float) and not isinstance(value, bool)
    ]


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of `doc` with the node at `path` (not the root) set to `value`."""
    doc = copy.deepcopy(doc)
    at(doc, path[:-1])[path[-1]] = value
    return doc


@st.composite
def numbers_mutated(draw: st.DrawFn, original: Any) -> Any:
    """`original` with one to three of its numbers (any node, if it has none) set to numbers
    beyond 64 bits, past int()'s digit limit or past a float, or at their edges."""
    doc = copy.deepcopy(original)
    paths = number_paths(doc) or _paths(doc)[1:]
    chosen = draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True))
    # Deepest first: a node replaced before its parent is never looked for inside a number.
    for path in sorted(chosen, key=len, reverse=True):
        at(doc, path[:-1])[path[-1]] = draw(EXTREME_NUMBERS)
    return doc


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for position, value in enumerate(doc):
            found += _paths(value, (*prefix, position))
    return found


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    """`original` with one to four nodes dropped or replaced by any JSON value."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            doc = draw(JSON_VALUES)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return doc


def parses_or_refuses(parse: Callable[[], list[Event]]) -> list[Event]:
    """Call a parser expecting only events, Ignored or Malformed; check what it returns."""
    try:
        events = parse()
    except (Ignored, Malformed) as refusal:
        assert str(refusal), "a refusal must say why"
        return []
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, Event)
        assert event.title and event.fingerprint
        assert all(isinstance(v, str) for v in event.labels.values())
        for name in ("source", "kind", "status", "project", "pipeline"):
            assert event.labels[name], name
    return events


@dataclass(frozen=True)
class Case:
    """What parsing one fixture must give: `times` is (started_at, finished_at, duration_s)."""

    labels: dict[str, str]
    title: str
    url: str | None
    run: tuple[str | None, int | None]
    times: tuple[str | None, str | None, float | None]
    fingerprint: str
    annotations: dict[str, str]


def assert_event(event: Event, case: Case) -> None:
    assert event.labels == case.labels
    assert event.title == case.title
    assert event.url == case.url
    assert (event.run_id, event.run_order) == case.run
    started, finished = (
        None if t is None else t.isoformat() for t in (event.started_at, event.finished_at)
    )
    assert (started, finished, event.duration_s) == case.times
    assert event.fingerprint == case.fingerprint
    assert event.annotations == case.annotations
    assert event.delivery_id is None, "the caller fills delivery_id"
