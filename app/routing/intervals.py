"""Named time intervals in Alertmanager's `time_intervals` format, and when they are active.

An interval is active when any of its entries matches; an entry matches when every field
it sets matches (an absent field matches any time). Times of day are [start, end) in the
entry's `location` (default UTC).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    model_validator,
)

_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}  # monday=0
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}

Range = tuple[int, int]


def _split(value: object) -> tuple[str, str]:
    text = str(value).strip().lower()
    begin, _, end = text.partition(":")
    return begin.strip(), (end.strip() or begin.strip())


def _named_range(names: dict[str, int], what: str, value: object) -> Range:
    begin, end = _split(value)
    try:
        lo = names[begin] if begin in names else int(begin)
        hi = names[end] if end in names else int(end)
    except ValueError:
        raise ValueError(f"invalid {what} {value!r}") from None
    if not (min(names.values()) <= lo <= hi <= max(names.values())):
        raise ValueError(f"invalid {what} range {value!r}")
    return lo, hi


def _weekday(value: object) -> Range:
    begin, end = _split(value)
    if begin not in _WEEKDAYS or end not in _WEEKDAYS:
        raise ValueError(f"invalid weekday {value!r} (monday … sunday, or monday:friday)")
    return _WEEKDAYS[begin], _WEEKDAYS[end]


def _month(value: object) -> Range:
    return _named_range(_MONTHS, "month", value)


def _day_of_month(value: object) -> Range:
    begin, end = _split(value)
    try:
        lo, hi = int(begin), int(end)
    except ValueError:
        raise ValueError(f"invalid day of month {value!r}") from None
    if not all(1 <= abs(day) <= 31 for day in (lo, hi)):
        raise ValueError(f"invalid day of month {value!r}: days are 1…31 or -31…-1")
    # Alertmanager's rule: a negative start needs a negative end; same signs must ascend.
    if (lo < 0 <= hi) or ((lo < 0) == (hi < 0) and lo > hi):
        raise ValueError(f"invalid day of month range {value!r}")
    return lo, hi


def _year(value: object) -> Range:
    begin, end = _split(value)
    try:
        lo, hi = int(begin), int(end)
    except ValueError:
        raise ValueError(f"invalid year {value!r}") from None
    if lo > hi or lo < 1:
        raise ValueError(f"invalid year range {value!r}")
    return lo, hi


def _minute_of_day(text: object, *, allow_24: bool) -> int:
    hours, _, minutes = str(text).partition(":")
    try:
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        raise ValueError(f"invalid time {text!r} (use HH:MM)") from None
    if not (0 <= int(minutes) < 60 and 0 <= value <= (1440 if allow_24 else 1439)):
        raise ValueError(f"invalid time {text!r} (00:00 … 24:00)")
    return value


def _zone(value: object) -> tzinfo | None:
    if isinstance(value, tzinfo):
        return value
    # "Local" is Alertmanager's name for the server's zone; None means exactly that.
    if value == "Local":
        return None
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None


class TimeRange(BaseModel):
    """A time of day [start, end) in minutes since midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: Annotated[int, PlainValidator(lambda v: _minute_of_day(v, allow_24=False))]
    end_time: Annotated[int, PlainValidator(lambda v: _minute_of_day(v, allow_24=True))]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start_time >= self.end_time:
            raise ValueError("start_time must be before end_time")
        return self


# Each item parsed on its own, so an error points at the item's line.
_AS_TEXT = PlainSerializer(lambda r: f"{r[0]}:{r[1]}")
Weekdays = tuple[Annotated[Range, PlainValidator(_weekday), _AS_TEXT], ...]
DaysOfMonth = tuple[Annotated[Range, PlainValidator(_day_of_month), _AS_TEXT], ...]
Months = tuple[Annotated[Range, PlainValidator(_month), _AS_TEXT], ...]
Years = tuple[Annotated[Range, PlainValidator(_year), _AS_TEXT], ...]


class TimeSpec(BaseModel):
    """One entry of a named interval; unset fields match any time."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    times: tuple[TimeRange, ...] | None = None
    weekdays: Weekdays | None = None
    days_of_month: DaysOfMonth | None = None
    months: Months | None = None
    years: Years | None = None
    location: Annotated[
        tzinfo | None, PlainValidator(_zone), PlainSerializer(lambda z: str(z or "Local"))
    ] = UTC

    def contains(self, when: datetime) -> bool:
        local = when.astimezone(self.location)
        if self.times and not any(
            r.start_time <= local.hour * 60 + local.minute < r.end_time for r in self.times
        ):
            return False
        if self.weekdays and not _within(local.weekday(), self.weekdays):
            return False
        if self.days_of_month and not _day_within(local, self.days_of_month):
            return False
        if self.months and not _within(local.month, self.months):
            return False
        return not self.years or _within(local.year, self.years)


def _within(value: int, ranges: tuple[Range, ...]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def _day_within(local: datetime, ranges: tuple[Range, ...]) -> bool:
    days = calendar.monthrange(local.year, local.month)[1]
    for lo, hi in ranges:
        begin = days + lo + 1 if lo < 0 else lo
        end = days + hi + 1 if hi < 0 else hi
        # As Alertmanager: a range starting past this month's end (e.g. 31 in April) skips it.
        if begin <= days and begin <= local.day <= min(end, days):
            return True
    return False


class NamedInterval(BaseModel):
    """One `time_intervals:` item, referenced by name from mute_when / active_when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    time_intervals: tuple[TimeSpec, ...]


def is_active(interval: NamedInterval, when: datetime) -> bool:
    """True when `when` falls in any entry of `interval`; a naive `when` is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return any(spec.contains(when) for spec in interval.time_intervals)
