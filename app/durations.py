"""Durations as ops write them in routes.yaml: `30s`, `5m`, `4h`, `1d`, `1h30m`, `0s`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import PlainValidator, WrapSerializer

# Units largest first, as Prometheus/Alertmanager write them; each may appear once.
_UNITS: dict[str, timedelta] = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_DURATION = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?"
    r"(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?"
)


def parse_duration(text: str) -> timedelta:
    """`1h30m` -> timedelta(minutes=90); raises ValueError naming the accepted forms."""
    text = text.strip()
    if text == "0":
        return timedelta(0)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f'invalid duration "{text}" (use e.g. 30s, 5m, 4h, 1d, 1h30m)')
    total = timedelta(0)
    for unit, size in _UNITS.items():
        if match.group(unit):
            total += size * int(match.group(unit))
    return total


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration: timedelta(minutes=90) -> `1h30m`."""
    ms = int(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, ms = divmod(ms, int(size.total_seconds() * 1000))
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _validate(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    # A bare number is ambiguous (seconds? minutes?), so only 0 goes without a unit.
    if value == 0 and not isinstance(value, bool):
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: write it with a unit, e.g. 30s or 5m")
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    PlainValidator(_validate),
    WrapSerializer(lambda value, _handler: format_duration(value), return_type=str),
]
