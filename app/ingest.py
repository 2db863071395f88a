"""Storing parsed events: dedup the delivery, label pipeline state, route, persist.

An event is stored with its pipeline labels and routing decision in one transaction, or
not at all. Routing runs in a worker thread, never on the event loop nor inside the
store's writer (which every webhook's commit waits on): the pipeline labels it matches on
are judged against a snapshot first, the events routed, and the writer only checks that
the judgement still holds. Deliveries for one pipeline take turns within a process, so
that check fails only when another process wrote the pipeline in between; then the
writer's verdict is taken and the events are routed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from app.bus.plan import Plan
from app.events import Event
from app.logs import log
from app.pipeline_state import (
    Verdict,
    apply_verdict,
    judge,
    pipeline_key,
    record_run,
    tracked,
)
from app.store import RunHistory, Store, StoreUnavailable, WriteTx

PlanFn = Callable[[Event], Plan]

# Routing again this often means a pipeline is written by many deliveries at once; the
# sender is then asked to retry (503) rather than holding its request any longer.
MAX_REROUTES = 8


@dataclass(frozen=True)
class Accepted:
    events: list[Event]
    plans: list[Plan]
    # Ids of the events that finished their CI run (see Verdict.finished_run).
    finished_runs: set[str] = field(default_factory=set)


class Duplicate(Exception):
    """The sender already delivered this; it has been stored once."""


class _Rejudged(Exception):
    """The writer found other verdicts than the ones the events were routed with."""

    def __init__(self, verdicts: list[Verdict | None]) -> None:
        super().__init__("pipeline history changed while routing")
        self.verdicts = verdicts


async def ingest(
    store: Store, events: Sequence[Event], dedup_key: str | None, plan: PlanFn
) -> Accepted:
    """Store the events of one delivery; raises Duplicate or StoreUnavailable."""
    events = list(events)
    keys = sorted({pipeline_key(e.labels) for e in events if tracked(e)})
    async with _taking_turns(keys):
        return await _ingest(store, events, dedup_key, plan)


async def _ingest(
    store: Store, events: list[Event], dedup_key: str | None, plan: PlanFn
) -> Accepted:
    verdicts: list[Verdict | None] = [None] * len(events)
    if any(tracked(e) for e in events):
        verdicts = await store.read(lambda tx: _judge_all(tx, events))
    for _ in range(MAX_REROUTES):
        finished = {e.id for e, v in zip(events, verdicts, strict=True) if apply_verdict(e, v)}
        plans = await asyncio.to_thread(lambda: [plan(e) for e in events])
        try:
            return await store.write(partial(_write, dedup_key, events, verdicts, plans, finished))
        except _Rejudged as changed:
            verdicts = changed.verdicts
    log(logging.WARNING, "pipeline history kept changing while routing", events=len(events))
    raise StoreUnavailable("pipeline history kept changing while routing; retry")


# Per event loop (tests run several): pipeline key -> [lock, deliveries holding or waiting].
_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, list[Any]]] = WeakKeyDictionary()


@asynccontextmanager
async def _taking_turns(keys: list[str]) -> AsyncIterator[None]:
    """Hold every key's lock (in sorted order, so two deliveries cannot deadlock)."""
    turns = _turns.setdefault(asyncio.get_running_loop(), {})
    entries = [turns.setdefault(key, [asyncio.Lock(), 0]) for key in keys]
    for entry in entries:
        entry[1] += 1
    try:
        async with contextlib.AsyncExitStack() as stack:
            for lock, _ in entries:
                await stack.enter_async_context(lock)
            yield
    finally:
        for key, entry in zip(keys, entries, strict=True):
            entry[1] -= 1
            if entry[1] == 0:
                del turns[key]


def _judge_all(history: RunHistory, events: list[Event]) -> list[Verdict | None]:
    return [judge(history, e) for e in events]


def _write(
    dedup_key: str | None,
    events: list[Event],
    expected: list[Verdict | None],
    plans: list[Plan],
    finished: set[str],
    tx: WriteTx,
) -> Accepted:
    if dedup_key is not None and not tx.remember_delivery(dedup_key):
        raise Duplicate(dedup_key)
    verdicts: list[Verdict | None] = []
    for event in events:
        verdict = judge(tx, event)
        # Recorded at once: a later event of the same delivery may be of the same run.
        record_run(tx, event, verdict)
        verdicts.append(verdict)
    if verdicts != expected:
        raise _Rejudged(verdicts)  # the job's savepoint undoes the runs recorded
    for event, event_plan in zip(events, plans, strict=True):
        tx.insert_event(event, event_plan.decision)
        if event_plan.targets:
            tx.add_dispatches(event.id, [(t.route, t.receiver) for t in event_plan.targets])
    return Accepted(events, plans, finished)
