"""The console's pure parts: the live broadcaster, success-rate buckets and pipeline cards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.bus.plan import Plan
from app.events import Event
from app.ingest import Accepted
from app.live import QUEUE_SIZE, ROWS_PER_PASS, Broadcaster, FeedItem, Render, TooManyStreams
from app.ui.pipelines import build_cards
from app.ui.sparkline import bucketed, svg
from app.ui.templating import http_url


async def test_slow_subscriber_loses_its_oldest_rows_not_the_newest() -> None:
    """A full feed queue drops the oldest row, counts it, and never blocks the others."""
    live = Broadcaster()
    slow, fast = live.subscribe("10.0.0.1"), live.subscribe("10.0.0.2")
    for n in range(QUEUE_SIZE + 2):
        slow.offer(b"%d," % n)
    fast.offer(b"x")
    assert slow.dropped == 2
    got = await asyncio.wait_for(slow.take(), 1)
    assert got == b"".join(b"%d," % n for n in range(2, QUEUE_SIZE + 2))
    assert fast.pending() == 1
    slow.close()
    fast.close()
    fast.close()  # closing twice gives its place back once
    assert live.subscribers() == 0


def _titles_renderer(rendered: list[str]) -> Render:
    def render(item: FeedItem) -> bytes:
        title = str(item["title"])
        rendered.append(title)
        return title.encode() + b";"

    return render


async def test_each_event_is_rendered_once_for_every_open_feed() -> None:
    """The broadcaster renders a row once per event and hands the same bytes to all feeds,
    each of which gets the rows of a pass in one chunk."""
    live = Broadcaster()
    rendered: list[str] = []
    feeds = [live.subscribe(f"10.0.0.{n}") for n in range(5)]
    runner = asyncio.create_task(live.run(_titles_renderer(rendered)))
    try:
        live.publish(_accepted("first", "second"))
        chunks = [await asyncio.wait_for(f.take(), 1) for f in feeds]
    finally:
        runner.cancel()
    assert rendered == ["first", "second"]
    assert chunks == [b"first;second;"] * 5


async def test_a_storm_costs_each_feed_one_write_per_pass() -> None:
    """500 events published at once: the newest ROWS_PER_PASS are rendered, the rest
    skipped and counted, and each feed gets them as one chunk."""
    live = Broadcaster()
    rendered: list[str] = []
    feed = live.subscribe("10.0.0.1")
    runner = asyncio.create_task(live.run(_titles_renderer(rendered)))
    try:
        for n in range(500):
            live.publish(_accepted(f"e{n}"))
        chunk = await asyncio.wait_for(feed.take(), 1)
    finally:
        runner.cancel()
    assert rendered == [f"e{n}" for n in range(500 - ROWS_PER_PASS, 500)]
    assert chunk == b"".join(f"e{n};".encode() for n in range(500 - ROWS_PER_PASS, 500))
    assert live.skipped == 500 - ROWS_PER_PASS


def test_publishing_with_no_feed_open_builds_nothing() -> None:
    """Without an open feed, publish keeps nothing for the broadcaster to render."""
    live = Broadcaster()
    live.publish(_accepted("unseen"))
    feed = live.subscribe("10.0.0.1")
    assert feed.pending() == 0 and not live._pending


def test_feeds_are_capped_per_client_and_in_all() -> None:
    """Past its share a client is refused (per_client); past the total everyone is."""
    live = Broadcaster(max_streams=3, max_per_client=2)
    first = live.subscribe("10.0.0.1")
    live.subscribe("10.0.0.1")
    with pytest.raises(TooManyStreams) as mine:
        live.subscribe("10.0.0.1")
    assert mine.value.per_client
    live.subscribe("10.0.0.2")
    with pytest.raises(TooManyStreams) as everyone:
        live.subscribe("10.0.0.3")
    assert not everyone.value.per_client
    first.close()
    live.subscribe("10.0.0.3")  # a closed feed's place is free again


def _accepted(*titles: str) -> Accepted:
    events = [
        Event(fingerprint=t, title=t, labels={"source": "github", "status": "success"})
        for t in titles
    ]
    return Accepted(events, [Plan({"routes": [], "receivers": []}, []) for _ in events])


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


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://github.com/octo/repo/actions/runs/1", True),
        ("HTTP://cobalt:9090/graph?g0.expr=up", True),
        ("javascript:alert(document.domain)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("\x01javascript:alert(1)", False),
        ("https://ok.example/\njavascript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox(1)", False),
        ("//evil.example/", False),
        ("/relative/path", False),
        ("", False),
        (None, False),
    ],
)
def test_only_absolute_http_urls_become_links(url: str | None, linked: bool) -> None:
    """http_url passes http(s) URLs through and refuses every other scheme or oddity."""
    assert http_url(url) == (url if linked else None)
