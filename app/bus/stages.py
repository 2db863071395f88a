"""The filters an event passes before it joins a group, as named stages of one signature.

A stage looks at one dispatch and returns why it must not be sent, or None to let it
through. New behaviour is a new stage in `Bus.stages`, not an `if` inside the worker.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from app.bus.target import Dispatch
from app.events import FAILED_STATUSES, Event
from app.pipeline_state import pipeline_key


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


class Dedup:
    """Drops the same news told twice to one route + receiver within dedup_window.

    News is what a subject (an alert, a CI run, a deployment) says now: its status, and
    for an alert also when it started. A firing alert repeated by Alertmanager is the same
    news; a firing → resolved → firing flap, an alert firing again with a new startsAt, or
    a new CI run are news each time, whatever the window: only the last news told per
    subject is remembered.
    """

    name = "dedup"
    # Sweep expired entries every this many calls, so memory follows the live window only.
    SWEEP_EVERY = 1024

    def __init__(self) -> None:
        # (route, receiver, subject) -> (news, expiry, id of the event that told it)
        self._told: dict[tuple[str, str, str], tuple[str, float, str]] = {}
        self._calls = 0

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        self._calls += 1
        if self._calls % self.SWEEP_EVERY == 0:
            self._told = {k: v for k, v in self._told.items() if v[1] > now}
        event, target = dispatch.event, dispatch.target
        key = (target.route, target.receiver, subject_of(event))
        news = news_of(event)
        told = self._told.get(key)
        if told is not None and told[0] == news and told[1] > now:
            return f"duplicate of event {told[2]} ({news}) within dedup_window"
        if target.dedup_window > 0:
            self._told[key] = (news, now + target.dedup_window, event.id)
        else:
            self._told.pop(key, None)
        return None


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


# inhibits(target labels, (event id, labels) of the active sources) -> why it is muted
InhibitCheck = Callable[[Mapping[str, str], Iterable[tuple[str, Mapping[str, str]]]], str | None]


class Inhibit:
    """Mutes targets while a matching source is active: a firing alert or a failed pipeline.

    Only tracked while inhibit rules exist. An alert nobody resolves is forgotten after
    ACTIVE_TTL without news (Alertmanager re-sends firing alerts every repeat_interval,
    4h by default), and at most MAX_ACTIVE sources are kept, oldest news dropped first:
    memory stays bounded however many alerts fire and are never resolved.
    """

    name = "inhibit"
    ACTIVE_TTL = 24 * 3600.0
    MAX_ACTIVE = 10_000

    def __init__(self, check: Callable[[], InhibitCheck | None]) -> None:
        self._check = check
        # key -> (labels, when last heard of, id of the event heard), oldest first
        self._active: OrderedDict[str, tuple[Mapping[str, str], float, str]] = OrderedDict()

    def observe(self, event: Event, now: float) -> None:
        """Track what is firing or failing now; called for every event, routed or not."""
        if self._check() is None:
            self._active.clear()
            return
        key = _activity_key(event)
        if (event.kind == "alert" and event.status == "firing") or (
            event.kind == "pipeline" and event.status in FAILED_STATUSES
        ):
            self._active[key] = (event.labels, now, event.id)
            self._active.move_to_end(key)
        elif event.status in {"resolved", "success"}:
            self._active.pop(key, None)
        while self._active and (
            len(self._active) > self.MAX_ACTIVE
            or next(iter(self._active.values()))[1] < now - self.ACTIVE_TTL
        ):
            self._active.popitem(last=False)

    def __call__(self, dispatch: Dispatch, now: float) -> str | None:
        check = self._check()
        if check is None:
            return None
        event = dispatch.event
        self_key = _activity_key(event)
        sources = (
            (event_id, labels)
            for key, (labels, _, event_id) in self._active.items()
            if key != self_key
        )
        return check(event.labels, sources)


def _activity_key(event: Event) -> str:
    if event.kind == "pipeline":
        return "pipeline:" + pipeline_key(event.labels)
    return "alert:" + event.fingerprint
