"""The pipelines board: one card per (project, pipeline, branch) from the last 7 days."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.events import Event
from app.ui.sparkline import Series, bucketed
from app.ui.templating import page
from app.web.deps import ApiAuth, Ctx

router = APIRouter(dependencies=[ApiAuth])

DAY = 86_400.0
WEEK = 7 * DAY
# Most pipeline events one page reads; past this the oldest of the week are left out.
MAX_EVENTS = 20_000
# Outcomes that count for the success rate; cancelled and skipped runs say nothing of it.
RATED = {"success": True, "failure": False, "unstable": False}
FINISHED = {*RATED, "cancelled", "skipped"}


@dataclass
class Card:
    source: str
    project: str
    pipeline: str
    branch: str
    last: Event
    last_finished: Event | None = None
    runs: list[tuple[float, bool]] = field(default_factory=list)
    day: Series | None = None
    week: Series | None = None

    @property
    def failure_streak(self) -> int:
        finished = self.last_finished
        if finished is None:
            return 0
        streak = finished.labels.get("failure_streak", "0")
        return int(streak) if streak.isdigit() else 0

    @property
    def last_run(self) -> Event:
        """The run the card reports on: the last finished one, else the newest."""
        return self.last_finished or self.last

    @property
    def last_run_at(self) -> datetime:
        return self.last_run.finished_at or self.last_run.received_at

    @property
    def last_duration(self) -> float | None:
        return self.last_finished.duration_s if self.last_finished else self.last.duration_s


def _finished_at(event: Event) -> float:
    # When the run ended, as the CI says; arrival time for sources that do not say.
    moment = event.finished_at or event.received_at
    return moment.timestamp()


def build_cards(events: list[Event], now: float) -> list[Card]:
    """Cards from pipeline events (oldest first): longest failure streak first, then newest."""
    cards: dict[tuple[str, str, str], Card] = {}
    for event in events:
        labels = event.labels
        key = (labels["project"], labels["pipeline"], labels.get("branch", ""))
        card = cards.get(key)
        if card is None:
            card = cards[key] = Card(event.source, *key, last=event)
        card.last = event
        if event.status in FINISHED:
            card.last_finished = event
        if event.status in RATED:
            card.runs.append((_finished_at(event), RATED[event.status]))
    for card in cards.values():
        card.day = bucketed(card.runs, now, DAY, 24, "24 h")
        card.week = bucketed(card.runs, now, WEEK, 28, "7 d")
    return sorted(
        cards.values(),
        key=lambda c: (-c.failure_streak, -c.last.received_at.timestamp()),
    )


@router.get("/ui/pipelines", response_class=HTMLResponse)
async def pipelines(request: Request, ctx: Ctx) -> HTMLResponse:
    now = time.time()
    events = await ctx.store.read(
        lambda tx: tx.events_since(since=now - WEEK, kind="pipeline", limit=MAX_EVENTS)
    )
    return page(request, ctx, "pipelines.html", tab="pipelines", cards=build_cards(events, now))
