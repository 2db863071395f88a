"""Named time intervals (Alertmanager's format) and a route's muted_at()."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from app.routing.config import parse_config
from app.routing.intervals import NamedInterval, is_active


def interval(**spec: Any) -> NamedInterval:
    return NamedInterval.model_validate({"name": "i", "time_intervals": [spec]})


def test_weekdays_follow_the_location_zone() -> None:
    """Saturday in Shanghai starts at Friday 16:00 UTC, and weekdays follow that zone."""
    weekend = interval(weekdays=["saturday:sunday"], location="Asia/Shanghai")
    assert is_active(weekend, datetime(2024, 6, 7, 16, 0, tzinfo=UTC))  # Sat 00:00 +08
    assert not is_active(weekend, datetime(2024, 6, 7, 15, 59, tzinfo=UTC))  # Fri 23:59 +08
    assert is_active(weekend, datetime(2024, 6, 9, 15, 59, tzinfo=UTC))  # Sun 23:59 +08
    assert not is_active(weekend, datetime(2024, 6, 9, 16, 0, tzinfo=UTC))  # Mon 00:00 +08


def test_times_are_start_inclusive_end_exclusive() -> None:
    """A times range includes its start minute and excludes its end minute."""
    office = interval(times=[{"start_time": "09:00", "end_time": "17:30"}])
    assert is_active(office, datetime(2024, 1, 1, 9, 0, tzinfo=UTC))
    assert is_active(office, datetime(2024, 1, 1, 17, 29, tzinfo=UTC))
    assert not is_active(office, datetime(2024, 1, 1, 17, 30, tzinfo=UTC))
    assert not is_active(office, datetime(2024, 1, 1, 8, 59, tzinfo=UTC))


def test_all_fields_must_match_and_any_entry_suffices() -> None:
    """Within an entry every field must match; across entries one match is enough."""
    named = NamedInterval.model_validate(
        {
            "name": "i",
            "time_intervals": [
                {
                    "weekdays": ["monday:friday"],
                    "times": [{"start_time": "09:00", "end_time": "17:00"}],
                    "location": "Europe/Berlin",
                },
                {"weekdays": ["sunday"]},
            ],
        }
    )
    berlin = ZoneInfo("Europe/Berlin")
    assert is_active(named, datetime(2024, 7, 1, 10, 0, tzinfo=berlin))  # Monday 10:00
    assert not is_active(named, datetime(2024, 7, 1, 18, 0, tzinfo=berlin))  # Monday 18:00
    assert not is_active(named, datetime(2024, 7, 6, 10, 0, tzinfo=berlin))  # Saturday
    assert is_active(named, datetime(2024, 7, 7, 3, 0, tzinfo=UTC))  # Sunday, second entry


def test_days_of_month_months_and_years() -> None:
    """Negative days count from the month's end; months take names or numbers; years ranges."""
    last_days = interval(days_of_month=["-2:-1"])
    assert is_active(last_days, datetime(2024, 2, 28, tzinfo=UTC))  # leap February: 28, 29
    assert not is_active(last_days, datetime(2024, 2, 27, tzinfo=UTC))
    assert is_active(last_days, datetime(2023, 2, 27, tzinfo=UTC))
    day_31 = interval(days_of_month=[31])
    assert not is_active(day_31, datetime(2024, 4, 30, tzinfo=UTC))  # April has no 31st
    quarter = interval(months=["january:march", "12"], years=["2024:2025"])
    assert is_active(quarter, datetime(2024, 2, 1, tzinfo=UTC))
    assert is_active(quarter, datetime(2025, 12, 1, tzinfo=UTC))
    assert not is_active(quarter, datetime(2024, 4, 1, tzinfo=UTC))
    assert not is_active(quarter, datetime(2026, 1, 1, tzinfo=UTC))


def test_naive_datetime_is_utc_and_end_of_day_is_24_00() -> None:
    """A naive `when` is read as UTC, and 24:00 closes a range at midnight."""
    evening = interval(times=[{"start_time": "20:00", "end_time": "24:00"}])
    assert is_active(evening, datetime(2024, 1, 1, 23, 59))
    assert not is_active(evening, datetime(2024, 1, 1, 0, 0))


@pytest.mark.parametrize(
    "spec",
    [
        {"weekdays": ["funday"]},
        {"times": [{"start_time": "17:00", "end_time": "09:00"}]},
        {"times": [{"start_time": "25:00", "end_time": "26:00"}]},
        {"days_of_month": ["0"]},
        {"days_of_month": ["-1:5"]},
        {"months": ["smarch"]},
        {"years": ["2025:2024"]},
        {"location": "Mars/Olympus"},
        {"weekday": ["monday"]},
    ],
)
def test_invalid_intervals_are_rejected(spec: dict[str, Any]) -> None:
    """Unknown names, reversed ranges, bad times, unknown zones and keys fail validation."""
    with pytest.raises(ValidationError):
        interval(**spec)


def test_route_muted_at_uses_mute_when_and_active_when() -> None:
    """muted_at() is true inside a mute_when interval, and outside every active_when one."""
    config = parse_config(
        b"""
channels: { a: { type: log } }
time_intervals:
  - name: weekend
    time_intervals: [{ weekdays: [saturday, sunday], location: Asia/Shanghai }]
  - name: office
    time_intervals: [{ times: [{ start_time: "09:00", end_time: "18:00" }] }]
routes:
  - { matchers: ['kind=pipeline'], to: [a], mute_when: [weekend] }
  - { matchers: ['kind=alert'], to: [a], active_when: [office] }
""",
        "routes.yaml",
        env={},
    )
    pipeline = config.decide({"kind": "pipeline"}).matches[0]
    assert pipeline.muted_at(datetime(2024, 6, 8, 12, tzinfo=UTC))  # Saturday
    assert not pipeline.muted_at(datetime(2024, 6, 10, 12, tzinfo=UTC))  # Monday
    alert = config.decide({"kind": "alert"}).matches[0]
    assert not alert.muted_at(datetime(2024, 6, 10, 10, tzinfo=UTC))
    assert alert.muted_at(datetime(2024, 6, 10, 20, tzinfo=UTC))
