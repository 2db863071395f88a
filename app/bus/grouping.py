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

from app.bus.target import Dispatch, Target
from app.events import Event
from app.logs import log


@dataclass
class Group:
    key: str
    target: Target
    labels: dict[str, str]
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

    def take(self) -> tuple[list[Event], list[tuple[str, str, str]]]:
        """What this flush tells, then forget what needs no repeating."""
        events = list(self.events.values())
        dispatched, self.dispatched = self.dispatched, []
        self.events = {fp: e for fp, e in self.events.items() if e.status == "firing"}
        self.changed = False
        self.last_sent = time.monotonic()
        return events, dispatched


FLUSH_RETRY_SECONDS = 1.0

Flush = Callable[[Group, list[Event], list[tuple[str, str, str]]], Awaitable[None]]


class Grouper:
    def __init__(self, flush: Flush) -> None:
        self._flush = flush
        self._groups: dict[str, Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, dispatch: Dispatch) -> None:
        key, labels = dispatch.target.group_key(dispatch.event)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, dispatch.target, labels)
            task = asyncio.create_task(self._run(group), name=f"group {key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        group.add(dispatch)

    def __len__(self) -> int:
        return len(self._groups)

    async def _run(self, group: Group) -> None:
        target = group.target
        try:
            if target.group_wait > 0:
                await asyncio.sleep(target.group_wait)
            while True:
                await self._flush_safely(group)
                if target.group_wait <= 0 or (not group.events and not group.dispatched):
                    return
                await asyncio.sleep(target.group_interval)
                repeat_due = time.monotonic() - group.last_sent >= target.repeat_interval
                while not group.changed and not repeat_due:
                    if not group.events and not group.dispatched:
                        return
                    await asyncio.sleep(target.group_interval)
                    repeat_due = time.monotonic() - group.last_sent >= target.repeat_interval
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]

    async def _flush_safely(self, group: Group) -> None:
        events, dispatched = group.take()
        try:
            await self._flush(group, events, dispatched)
        except Exception as exc:
            # Typically the store refusing a write: the dispatches are still stored, so
            # keep them in the group and try again shortly rather than lose the flush.
            log(logging.ERROR, "group flush failed, will retry", group=group.key, error=str(exc))
            group.restore(events, dispatched)
            await asyncio.sleep(FLUSH_RETRY_SECONDS)

    async def flush_all(self) -> None:
        """Send every waiting group now (shutdown): nothing accepted stays untold."""
        for group in list(self._groups.values()):
            if group.dispatched:
                await self._flush(group, *group.take())
        for task in list(self._tasks):
            task.cancel()
