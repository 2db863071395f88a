"""The console's pure parts: the live broadcaster, success-rate buckets and pipeline cards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.events import Event
from app.ui.live import Broadcaster
from app.ui.pipelines import build_cards
from app.ui.sparkline import bucketed, svg


async def test_slow_subscriber_loses_its_oldest_items_not_the_newest() -> None:
    """A full subscriber queue drops the oldest item, counts it, and never blocks publish."""
    live = Broadcaster(queue_size=3)
    async with live.subscribe() as slow, live.subscribe() as fast:
        live.publish({"n": n} for n in range(5))
        assert slow.dropped == 2
        got = [await asyncio.wait_for(slow.get(), 1) for _ in range(3)]
        assert [item["n"] for item in got] == [2, 3, 4]
        assert fast.pending() == 3
    assert live.subscribers() == 0


def test_buckets_cover_the_window_and_skip_older_runs() -> None:
    """Runs land in the bucket of their age; runs outside the window are ignored."""
    now = 1_000_000.0
    runs = [(now - 10, True), (now - 20, False), (now - 3_700, True), (now - 90_000, False)]
    series = bucketed(runs, now, 86_400, 24, "24 h")
    assert [b.runs for b in series.buckets][-2:] == [1, 2]
    assert series.runs == 3
    assert series.summary() == "24 h: 67% of 3 runs"
    drawn = svg(series)
    assert drawn.count("<circle") == 2
    assert 'aria-label="24 h: 67% of 3 runs"' in drawn


def _run(number: int, status: str, streak: str, finished: datetime) -> Event:
    labels = {
        "source": "github",
        "kind": "pipeline",
        "status": status,
        "project": "octo/repo",
        "pipeline": "构建",
        "branch": "main",
        "failure_streak": streak,
    }
    return Event(
        fingerprint=f"run-{number}",
        title=f"run {number}",
        labels=labels,
        finished_at=finished,
        duration_s=60.0 + number,
    )


def test_cards_group_by_pipeline_and_branch_with_the_last_streak() -> None:
    """One card per (project, pipeline, branch), carrying the newest finished run's streak."""
    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    events = [
        _run(1, "success", "0", now - timedelta(days=2)),
        _run(2, "failure", "1", now - timedelta(hours=5)),
        _run(3, "failure", "2", now - timedelta(hours=1)),
        _run(4, "running", "2", now),
    ]
    (card,) = build_cards(events, now.timestamp())
    assert card.failure_streak == 2
    assert card.last.status == "running"
    assert card.last_duration == 63.0
    assert card.day is not None and card.day.summary() == "24 h: 0% of 2 runs"
    assert card.week is not None and card.week.summary() == "7 d: 33% of 3 runs"
