"""The one place messages are fitted to a provider's size limit.

A group too big for one message is split across several, each listing some events
and marked "(k/N)"; a single event too big on its own is truncated with a visible
marker. Cuts happen between code points, so multibyte text is never cut inside a
character (Alertmanager's `TruncateInRunes`, Apprise's `body_maxlen`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

T = TypeVar("T")

TRUNCATED = "\n… (truncated)"


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript counts (an emoji is two): never less
    than `len`, so a limit in "characters" holds whichever way the provider counts."""
    return len(text.encode("utf-16-le")) // 2


def json_len(value: Any) -> int:
    """Bytes `value` takes as UTF-8 JSON, encoded as channels encode request bodies."""
    return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def json_utf8_len(text: str) -> int:
    """Bytes `text` takes inside a UTF-8 JSON body (escapes counted, quotes not)."""
    return json_len(text) - 2


@dataclass(frozen=True)
class Budget:
    """A size limit: `measure(text) <= limit` must hold for every text sent."""

    limit: int
    measure: Callable[[str], int] = len

    def fits(self, text: str) -> bool:
        return self.measure(text) <= self.limit

    def shrunk(self, limit: int) -> Budget:
        return Budget(limit, self.measure)


@dataclass(frozen=True)
class Part(Generic[T]):
    """One message's share of the items, and its text within budget."""

    items: tuple[T, ...]
    text: str
    index: int = 1
    count: int = 1


def truncate(text: str, budget: Budget, marker: str = TRUNCATED) -> str:
    """`text` unchanged if it fits, else its longest prefix that fits with `marker` appended."""
    if budget.fits(text):
        return text
    if not budget.fits(marker):
        marker = ""
    low, high = 0, len(text)  # invariant: text[:low] + marker fits
    while low < high:
        mid = (low + high + 1) // 2
        if budget.fits(text[:mid] + marker):
            low = mid
        else:
            high = mid - 1
    return text[:low] + marker


def marker(index: int, count: int) -> str:
    return f"({index}/{count})" if count > 1 else ""


def fit(
    items: Sequence[T], render: Callable[[Sequence[T], str], str], budget: Budget
) -> list[Part[T]]:
    """Render `items` into as few parts as fit `budget`; every item lands in exactly one part.

    `render(items, marker)` must produce the text for a subset of items and a part
    marker ("" for a single part, else "(k/N)").
    """
    whole = render(items, "")
    if len(items) <= 1 or budget.fits(whole):
        return [Part(tuple(items), truncate(whole, budget))]
    # Widest marker any part can get, so a chunk measured with it still fits with its own.
    widest = f"({len(items)}/{len(items)})"
    chunks: list[tuple[T, ...]] = []
    start = 0
    while start < len(items):
        end = _largest_fitting_end(items, start, render, budget, widest)
        chunks.append(tuple(items[start:end]))
        start = end
    count = len(chunks)
    return [
        Part(chunk, truncate(render(chunk, marker(i, count)), budget), i, count)
        for i, chunk in enumerate(chunks, start=1)
    ]


def _largest_fitting_end(
    items: Sequence[T],
    start: int,
    render: Callable[[Sequence[T], str], str],
    budget: Budget,
    widest: str,
) -> int:
    """Largest `end` with items[start:end] fitting; at least start+1 (that one is truncated)."""

    def fits(end: int) -> bool:
        return budget.fits(render(items[start:end], widest))

    good, step = start + 1, 1
    if not fits(good):
        return good
    # Gallop then bisect: O(log n) renders per part instead of one per item.
    bad = len(items) + 1
    while good + step <= len(items):
        if fits(good + step):
            good += step
            step *= 2
        else:
            bad = good + step
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def chunk_lines(text: str, budget: Budget) -> list[str]:
    """Pack whole lines into chunks within `budget`, cutting only lines too long alone.

    The budget's measure must add up over concatenation (len, utf8_len, utf16_len).
    """
    chunks: list[str] = []
    current, size = "", 0
    newline = budget.measure("\n")
    for line in text.split("\n"):
        while not budget.fits(line):
            head = truncate(line, budget, "") or line[0]
            if current:
                chunks.append(current)
                current, size = "", 0
            chunks.append(head)
            line = line[len(head) :]
        length = budget.measure(line)
        if current and size + newline + length <= budget.limit:
            current, size = f"{current}\n{line}", size + newline + length
        else:
            if current:
                chunks.append(current)
            current, size = line, length
    if current.strip():
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def fit_json(value: Any, max_bytes: int, marker: str = "…") -> Any:
    """`value` (JSON-able) with its longest strings cut, marked, until it takes at most
    `max_bytes` as JSON; None when even cutting every string to nothing is too much."""
    if json_len(value) <= max_bytes:
        return value
    low, high = 0, _longest_string(value)  # invariant: cut at `low` fits, if anything does
    if json_len(_cut_strings(value, 0, marker)) > max_bytes:
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if json_len(_cut_strings(value, mid, marker)) <= max_bytes:
            low = mid
        else:
            high = mid - 1
    return _cut_strings(value, low, marker)


def _longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((max(len(str(k)), _longest_string(v)) for k, v in value.items()), default=0)
    if isinstance(value, list | tuple):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def _cut_strings(value: Any, chars: int, marker: str) -> Any:
    if isinstance(value, str):
        return value if len(value) <= chars else value[:chars] + marker
    if isinstance(value, dict):
        return {
            _cut_strings(str(k), chars, marker): _cut_strings(v, chars, marker)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_cut_strings(v, chars, marker) for v in value]
    return value
