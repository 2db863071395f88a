"""Alertmanager's grouping: group_by, group_wait, group_interval, repeat_interval.

A group's first flush waits group_wait so related events arrive together; later flushes
happen every group_interval when something changed, and a group of still-firing alerts is
re-sent after repeat_interval. Resolved alerts and one-shot CI events leave the group once
they have been told. Groups live by key, not by config version, so a reload does not
restart them (Alertmanager rebuilds groups on reload and sends early or twice).

A group that keeps firing alerts after a flush is stored with them and its last send
(the bus writes it with the flush), so a restart or the replica taking its receiver over
resumes it and repeats on time (`resume`).
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
from app.store.shared import GroupState


@dataclass
class Group:
    key: str
    target: Target
    labels: dict[str, str]
    order_key: str
    events: dict[str, Event] = field(default_factory=dict)
    dispatched: list[tuple[str, str, str]] = field(default_factory=list)
    changed: bool = False
    # Epoch seconds of the last flush (0: never flushed).
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

    def expire(
        self, now: float, heard: dict[str, float], quiet: Quieted | None = None
    ) -> list[tuple[Event, str, str]]:
        """Take out the firing alerts no longer worth repeating, each with the stage and
        why: `quiet` ones (fingerprint -> stage, why: acknowledged), or "stale": no news
        (`heard`: when each fingerprint was last received) for resolve_timeout, or past
        the alert's own endsAt."""
        stale = []
        for fingerprint, event in list(self.events.items()):
            if event.status != "firing":
                continue
            last = heard.get(fingerprint, event.received_at.timestamp())
            why = staleness(event, now, last, self.target.resolve_timeout)
            found = (quiet or {}).get(fingerprint) or (("stale", why) if why else None)
            if found is not None:
                del self.events[fingerprint]
                stale.append((event, *found))
        return stale

    def take(self) -> tuple[list[Event], list[tuple[str, str, str]]]:
        """What this flush tells, then forget what needs no repeating."""
        events = list(self.events.values())
        dispatched, self.dispatched = self.dispatched, []
        self.events = {fp: e for fp, e in self.events.items() if e.status == "firing"}
        self.changed = False
        self.last_sent = time.time()
        return events, dispatched

    def state(self) -> GroupState:
        """What the store keeps of the group after a flush."""
        return GroupState(
            key=self.key,
            route=self.target.route,
            receiver=self.target.receiver,
            labels=self.labels,
            order_key=self.order_key,
            firing=[e.id for e in self.events.values()],
            last_sent=self.last_sent,
        )

    @property
    def repeats(self) -> bool:
        """Whether the group outlives its flush: a grouped route with alerts still firing."""
        return self.target.group_wait > 0 and bool(self.events)


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
# heard(fingerprints) -> when each was last received (epoch seconds).
Heard = Callable[[list[str]], Awaitable[dict[str, float]]]
# fingerprint -> (stage, why) of firing alerts no longer to be repeated (acknowledged).
Quieted = dict[str, tuple[str, str]]
# quiet(events): which of these firing alerts must not be repeated any more.
Quiet = Callable[[list[Event]], Awaitable[Quieted]]
# stale(group, [(event, stage, why)]): alerts a group stopped repeating.
Stale = Callable[[Group, list[tuple[Event, str, str]]], None]
# ended(group): a stored group has nothing left to repeat.
Ended = Callable[[Group], None]


class Grouper:
    def __init__(
        self, flush: Flush, heard: Heard, stale: Stale, ended: Ended, quiet: Quiet | None = None
    ) -> None:
        self._flush = flush
        self._heard = heard
        self._quiet = quiet
        self._stale = stale
        self._ended = ended
        self._groups: dict[str, Group] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Groups with no group_wait: flushed together by one task, not a task each,
        # since under a storm that is one store write for hundreds of deliveries.
        self._immediate: list[Group] = []
        self._immediate_task: asyncio.Task[None] | None = None
        # How many of those were ever added, and flushed (in order): see `flushed`.
        self._immediate_added = 0
        self._immediate_flushed = 0
        self._immediate_progress = asyncio.Event()

    def add(self, dispatch: Dispatch) -> None:
        target = dispatch.target
        key, labels = target.group_key(dispatch.event)
        if target.group_wait <= 0:
            one_shot = Group(key, target, labels, target.order_key(dispatch.event, key))
            one_shot.add(dispatch)
            self._immediate.append(one_shot)
            self._immediate_added += 1
            if self._immediate_task is None or self._immediate_task.done():
                self._immediate_task = asyncio.create_task(self._flush_immediate())
            return
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, target, labels, key)
            self._start(group, wait=target.group_wait)
        group.add(dispatch)

    def resume(self, state: GroupState, target: Target, firing: list[Event]) -> None:
        """Carry on a stored group: its alerts repeat after repeat_interval from its last
        send, changes flush at the next group_interval."""
        if state.key in self._groups:
            return
        group = Group(
            state.key,
            target,
            state.labels,
            state.order_key,
            events={e.fingerprint: e for e in firing},
            last_sent=state.last_sent,
        )
        self._groups[state.key] = group
        self._start(group, wait=None)

    def drop(self, receivers: set[str]) -> None:
        """Forget the groups of receivers another replica owns now (the store keeps them,
        and their dispatches, for it)."""
        for key, group in list(self._groups.items()):
            if group.target.receiver in receivers:
                del self._groups[key]
                task = self._tasks.pop(key, None)
                if task is not None:
                    task.cancel()

    def _start(self, group: Group, wait: float | None) -> None:
        task = asyncio.create_task(self._run(group, wait), name=f"group {group.key}")
        self._tasks[group.key] = task
        task.add_done_callback(lambda _: self._tasks.pop(group.key, None))

    def __len__(self) -> int:
        return len(self._groups) + len(self._immediate)

    async def flushed(self) -> None:
        """Wait until the groups that flush at once (group_wait 0) added so far are
        flushed (not those added meanwhile: under a steady stream there always are)."""
        target = self._immediate_added
        while self._immediate_flushed < target:
            self._immediate_progress.clear()
            await self._immediate_progress.wait()

    async def _flush_immediate(self) -> None:
        while self._immediate:
            batch = self._immediate[:IMMEDIATE_BATCH]
            del self._immediate[:IMMEDIATE_BATCH]
            flushing = [Flushing(g, *g.take()) for g in batch]
            try:
                await self._flush(flushing)
                self._immediate_flushed += len(batch)
                self._immediate_progress.set()
            except Exception as exc:
                log(logging.ERROR, "flush failed, will retry", groups=len(batch), error=str(exc))
                for item in flushing:
                    item.group.restore(item.events, item.dispatched)
                self._immediate[:0] = batch
                await asyncio.sleep(FLUSH_RETRY_SECONDS)

    async def _run(self, group: Group, wait: float | None) -> None:
        """Flush after `wait` (None: the group was resumed, it already flushed), then every
        group_interval when something changed or repeat_interval has passed."""
        target = group.target
        try:
            if wait is not None:
                await asyncio.sleep(wait)
                await self._flush_safely(group)
            while group.events or group.dispatched:
                await asyncio.sleep(target.group_interval)
                await self._expire(group)
                repeat_due = time.time() - group.last_sent >= target.repeat_interval
                if group.changed or repeat_due:
                    await self._flush_safely(group)
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]

    async def _expire(self, group: Group) -> None:
        firing = [fp for fp, e in group.events.items() if e.status == "firing"]
        if not firing:
            return
        try:
            heard = await self._heard(firing)
            quiet = await self._quiet([group.events[fp] for fp in firing]) if self._quiet else {}
        except Exception as exc:
            log(logging.WARNING, "could not read when alerts were last heard", error=str(exc))
            return
        stale = group.expire(time.time(), heard, quiet)
        if stale:
            self._stale(group, stale)
            if not group.events and not group.dispatched:
                self._ended(group)

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
        for task in [*self._tasks.values(), self._immediate_task]:
            if task is not None:
                task.cancel()
