"""Alertmanager's grouping: group_by, group_wait, group_interval, repeat_interval.

A group's first flush waits group_wait so related events arrive together; later flushes
happen every group_interval when something changed, and a group of still-firing alerts is
re-sent after repeat_interval. Resolved alerts and one-shot CI events leave the group once
they have been told. Groups live by key, not by config version, so a reload does not
restart them (Alertmanager rebuilds groups on reload and sends early or twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.bus.target import Dispatch, Target
from app.events import Event
from app.logs import log


@dataclass
class Group:
    key: str
    target: Target
    labels: dict[str, str]
    order_key: str
    events: dict[str, Event] = field(default_factory=dict)
    dispatched: list[tuple[str, str, str]] = field(default_factory=list)
    changed: bool = False
    last_sent: float = 0.0

    def add(self, dispatch: Dispatch) -> None:
        old = self.events.get(dispatch.event.fingerprint)
        self.events[dispatch.event.fingerprint] = dispatch.event
        self.dispatched.append(dispatch.key)
        if old is None or old.status != dispatch.event.status:
            self.changed = True

    def restore(self, events: list[Event], dispatched: list[tuple[str, str, str]]) -> None:
        """Put back what a failed flush took, so the next flush tells it."""
        for event in events:
            self.events.setdefault(event.fingerprint, event)
        self.dispatched[:0] = dispatched
        self.changed = True

    def expire(self, now: float, heard: Callable[[Event], float]) -> list[tuple[Event, str]]:
        """Take out the firing alerts no longer worth repeating, each with why: no news
        (see `heard`) for resolve_timeout, or past the alert's own endsAt."""
        stale = []
        for fingerprint, event in list(self.events.items()):
            if event.status != "firing":
                continue
            why = staleness(event, now, heard(event), self.target.resolve_timeout)
            if why is not None:
                del self.events[fingerprint]
                stale.append((event, why))
        return stale

    def take(self) -> tuple[list[Event], list[tuple[str, str, str]]]:
        """What this flush tells, then forget what needs no repeating."""
        events = list(self.events.values())
        dispatched, self.dispatched = self.dispatched, []
        self.events = {fp: e for fp, e in self.events.items() if e.status == "firing"}
        self.changed = False
        self.last_sent = time.monotonic()
        return events, dispatched


def staleness(event: Event, now: float, heard: float, resolve_timeout: float) -> str | None:
    """Why a firing alert is stale at `now`, or None while it is fresh."""
    if event.expires_at is not None and now > event.expires_at.timestamp():
        return f"past its own endsAt {event.expires_at.isoformat()}: no longer repeated"
    if now - heard > resolve_timeout:
        since = datetime.fromtimestamp(heard, UTC).isoformat(timespec="seconds")
        return f"no news since {since} (resolve_timeout {resolve_timeout:g}s): no longer repeated"
    return None


FLUSH_RETRY_SECONDS = 1.0
# Most one-shot groups turned into deliveries by one store write.
IMMEDIATE_BATCH = 256


@dataclass(frozen=True)
class Flushing:
    """What one flush of one group tells, and the dispatches it ends."""

    group: Group
    events: list[Event]
    dispatched: list[tuple[str, str, str]]


Flush = Callable[[list[Flushing]], Awaitable[None]]
# stale(group, [(event, why)]): alerts a group stopped repeating.
Stale = Callable[[Group, list[tuple[Event, str]]], None]


class Grouper:
    def __init__(
        self, flush: Flush, heard: Callable[[Event], float], stale: Stale | None = None
    ) -> None:
        self._flush = flush
        self._heard = heard
        self._stale = stale
        self._groups: dict[str, Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Groups with no group_wait: flushed together by one task, not a task each,
        # since under a storm that is one store write for hundreds of deliveries.
        self._immediate: list[Group] = []
        self._immediate_task: asyncio.Task[None] | None = None

    def add(self, dispatch: Dispatch) -> None:
        target = dispatch.target
        key, labels = target.group_key(dispatch.event)
        if target.group_wait <= 0:
            one_shot = Group(key, target, labels, target.order_key(dispatch.event, key))
            one_shot.add(dispatch)
            self._immediate.append(one_shot)
            if self._immediate_task is None or self._immediate_task.done():
                self._immediate_task = asyncio.create_task(self._flush_immediate())
            return
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, target, labels, key)
            task = asyncio.create_task(self._run(group), name=f"group {key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        group.add(dispatch)

    def __len__(self) -> int:
        return len(self._groups) + len(self._immediate)

    async def _flush_immediate(self) -> None:
        while self._immediate:
            batch = self._immediate[:IMMEDIATE_BATCH]
            del self._immediate[:IMMEDIATE_BATCH]
            flushing = [Flushing(g, *g.take()) for g in batch]
            try:
                await self._flush(flushing)
            except Exception as exc:
                log(logging.ERROR, "flush failed, will retry", groups=len(batch), error=str(exc))
                for item in flushing:
                    item.group.restore(item.events, item.dispatched)
                self._immediate[:0] = batch
                await asyncio.sleep(FLUSH_RETRY_SECONDS)

    async def _run(self, group: Group) -> None:
        target = group.target
        try:
            if target.group_wait > 0:
                await asyncio.sleep(target.group_wait)
            while True:
                await self._flush_safely(group)
                if not group.events and not group.dispatched:
                    return
                await asyncio.sleep(target.group_interval)
                self._expire(group)
                repeat_due = time.monotonic() - group.last_sent >= target.repeat_interval
                while not group.changed and not repeat_due:
                    if not group.events and not group.dispatched:
                        return
                    await asyncio.sleep(target.group_interval)
                    self._expire(group)
                    repeat_due = time.monotonic() - group.last_sent >= target.repeat_interval
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]

    def _expire(self, group: Group) -> None:
        stale = group.expire(time.time(), self._heard)
        if stale and self._stale is not None:
            self._stale(group, stale)

    async def _flush_safely(self, group: Group) -> None:
        events, dispatched = group.take()
        try:
            await self._flush([Flushing(group, events, dispatched)])
        except Exception as exc:
            # Typically the store refusing a write: the dispatches are still stored, so
            # keep them in the group and try again shortly rather than lose the flush.
            log(logging.ERROR, "group flush failed, will retry", group=group.key, error=str(exc))
            group.restore(events, dispatched)
            await asyncio.sleep(FLUSH_RETRY_SECONDS)

    async def flush_all(self) -> None:
        """Send every waiting group now (shutdown): nothing accepted stays untold."""
        waiting = [g for g in [*self._immediate, *self._groups.values()] if g.dispatched]
        self._immediate.clear()
        if waiting:
            await self._flush([Flushing(g, *g.take()) for g in waiting])
        for task in [*self._tasks, self._immediate_task]:
            if task is not None:
                task.cancel()
