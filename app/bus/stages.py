"""The filters an event passes before it joins a group, as named stages of one signature.

A stage looks at one dispatch and returns why it must not be sent, or None to let it
through. New behaviour is a new stage in `Bus.stages`, not an `if` inside the worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from app.bus.target import Dispatch
from app.events import Event
from app.pipeline_state import pipeline_key
from app.store.shared import News


class Stage(Protocol):
    name: str

    def __call__(self, dispatch: Dispatch, now: float) -> str | None: ...


class OldNews:
    """Drops events that tell nothing new about their CI run (see Event.old_news)."""

    name = "old_news"

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        return dispatch.event.old_news


class SendResolved:
    name = "send_resolved"

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        if dispatch.event.status == "resolved" and not dispatch.target.send_resolved:
            return "route has send_resolved: false"
        return None


class TimeMute:
    name = "mute"

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        muted = dispatch.target.muted
        why = muted(datetime.fromtimestamp(now, UTC)) if muted is not None else None
        return f"route {dispatch.target.route} muted: {why}" if why else None


class Inhibited:
    """Drops events an active source inhibited when they were routed (see app/bus/plan.py:
    inhibition is judged with the routing, off the event loop, against the activity
    every replica records)."""

    name = "inhibit"

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        return dispatch.event.inhibited_by


class Silenced:
    """Drops events a silence matched when they were routed (judged with the routing, like
    inhibition, against the silences every replica shares: app/oncall/book.py)."""

    name = "silence"

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        return dispatch.event.silenced_by


class Acknowledged:
    """Drops news of trouble someone acknowledged (an alert firing again, a pipeline still
    failing) until it resolves; the resolution itself is news."""

    name = "ack"

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        return dispatch.event.acked_by


class Dedup:
    """Drops the same news told twice to one route + receiver within dedup_window.

    News is what a subject (an alert, a CI run, a deployment) says now: its status, and
    for an alert also when it started. A firing alert repeated by Alertmanager is the same
    news; a firing → resolved → firing flap, an alert firing again with a new startsAt, or
    a new CI run are news each time, whatever the window: only the last news told per
    subject is remembered.

    The memory is the store's (so a restart or a replica taking a receiver over remembers
    too): `load` fills it for receivers taken over, `drain` hands back what changed since,
    for the caller to write.
    """

    name = "dedup"
    # Sweep expired entries every this many calls, so memory follows the live window only.
    SWEEP_EVERY = 1024

    def __init__(self) -> None:
        self._told: dict[tuple[str, str, str], News] = {}
        self._changed: dict[tuple[str, str, str], News | None] = {}
        self._calls = 0

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        self._calls += 1
        if self._calls % self.SWEEP_EVERY == 0:
            self._told = {k: n for k, n in self._told.items() if n.expires_at > now}
        event, target = dispatch.event, dispatch.target
        key = (target.route, target.receiver, subject_of(event))
        news = news_of(event)
        told = self._told.get(key)
        # The same event again is its dispatch resumed after a restart, not a repeat.
        if (
            told is not None
            and told.news == news
            and told.expires_at > now
            and told.event_id != event.id
        ):
            return f"duplicate of event {told.event_id} ({news}) within dedup_window"
        if target.dedup_window > 0:
            self._told[key] = self._changed[key] = News(
                *key, news, now + target.dedup_window, event.id
            )
        elif self._told.pop(key, None) is not None:
            self._changed[key] = None
        return None

    def load(self, news: Iterable[News]) -> None:
        for item in news:
            self._told[(item.route, item.receiver, item.subject)] = item

    def forget(self, receivers: set[str]) -> None:
        """Receivers another replica owns now: their memory is its."""
        self._told = {k: n for k, n in self._told.items() if k[1] not in receivers}
        self._changed = {k: n for k, n in self._changed.items() if k[1] not in receivers}

    def drain(self) -> tuple[list[News], list[tuple[str, str, str]]]:
        """(news to remember, keys to forget) since the last drain."""
        changed, self._changed = self._changed, {}
        return (
            [n for n in changed.values() if n is not None],
            [k for k, n in changed.items() if n is None],
        )

    def undrain(self, told: list[News], forgotten: list[tuple[str, str, str]]) -> None:
        """Their write failed: hand them back to the next drain (newer changes win)."""
        for news in told:
            self._changed.setdefault((news.route, news.receiver, news.subject), news)
        for key in forgotten:
            self._changed.setdefault(key, None)


def subject_of(event: Event) -> str:
    """What the event is about: one alert, one CI run, or what its fingerprint names."""
    if event.run_id is not None:
        return f"run:{pipeline_key(event.labels)}\x1f{event.run_id}"
    return f"{event.kind}:{event.fingerprint}"


def news_of(event: Event) -> str:
    """What the event says of its subject; equal news told twice is a duplicate."""
    if event.kind == "alert" and event.started_at is not None:
        return f"{event.status} since {event.started_at.isoformat()}"
    return event.status
