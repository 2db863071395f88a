"""Storing parsed events: dedup the delivery, label pipeline state, route, persist.

An event is stored with its pipeline labels and routing decision in one transaction, or
not at all. Routing runs off the event loop and outside the store's writer (which every
webhook's commit waits on): the pipeline labels it matches on are judged against a
snapshot and the events routed on the store's reader thread, and the writer only checks
that the judgement still holds. When another delivery for the same pipeline committed in
between, the events are routed again with the writer's verdicts; from then on the
deliveries of that pipeline take turns within the process (newcomers join the queue
while it lasts), so the check can only fail again when another process wrote the
pipeline meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from app.bus.plan import Plan, PlanFn
from app.events import Event
from app.logs import log
from app.oncall import judge as oncall
from app.pipeline_state import (
    Verdict,
    apply_verdict,
    judge,
    pipeline_key,
    record_run,
    still_holds,
    tracked,
)
from app.store import ReadTx, Store, StoreUnavailable, WriteTx
from app.store.oncall import Step

# Routing again this often means other processes keep writing the same pipeline; the
# sender is then asked to retry (503) rather than holding its request any longer.
MAX_REROUTES = 8


@dataclass(frozen=True)
class Accepted:
    events: list[Event]
    plans: list[Plan]
    # Ids of the events that finished their CI run (see Verdict.finished_run).
    finished_runs: set[str] = field(default_factory=set)
    # Escalation steps the events started (app/oncall/judge.py).
    escalations: list[Step] = field(default_factory=list)


class Duplicate(Exception):
    """The sender already delivered this; it has been stored once."""


class _Rejudged(Exception):
    """The writer found other verdicts than the ones the events were routed with."""

    def __init__(self, verdicts: list[Verdict | None]) -> None:
        super().__init__("pipeline history changed while routing")
        self.verdicts = verdicts


@dataclass(frozen=True)
class _Routed:
    """The events labelled and routed with these verdicts."""

    verdicts: list[Verdict | None]
    plans: list[Plan]
    finished: set[str]


async def ingest(
    store: Store, events: Sequence[Event], dedup_key: str | None, plan: PlanFn
) -> Accepted:
    """Store the events of one delivery; raises Duplicate or StoreUnavailable."""
    events = list(events)
    keys = sorted({pipeline_key(e.labels) for e in events if tracked(e)})
    verdicts = None
    if not _turns_taken(keys):
        routed = await store.read(partial(_route, events, plan, None))
        try:
            return await store.write(partial(_write, dedup_key, events, routed))
        except _Rejudged as changed:
            verdicts = changed.verdicts
    async with _taking_turns(keys):
        for _ in range(MAX_REROUTES):
            routed = await store.read(partial(_route, events, plan, verdicts))
            try:
                return await store.write(partial(_write, dedup_key, events, routed))
            except _Rejudged as changed:
                verdicts = changed.verdicts
    log(logging.WARNING, "pipeline history kept changing while routing", events=len(events))
    raise StoreUnavailable("pipeline history kept changing while routing; retry")


def _route(
    events: list[Event], plan: PlanFn, verdicts: list[Verdict | None] | None, tx: ReadTx
) -> _Routed:
    """Label the events with `verdicts` (judged from the snapshot when None) and route
    them. Runs on the reader thread: never on the event loop, never in the writer."""
    if verdicts is None:
        verdicts = [judge(tx, e) for e in events]
    finished = {e.id for e, v in zip(events, verdicts, strict=True) if apply_verdict(e, v)}
    plans = []
    for event in events:
        event_plan = plan(event, tx)
        event.inhibited_by = event_plan.inhibited_by
        event.silenced_by = event_plan.oncall.silenced_by
        event.acked_by = event_plan.oncall.acked_by
        plans.append(event_plan)
    return _Routed(verdicts, plans, finished)


def _write(dedup_key: str | None, events: list[Event], routed: _Routed, tx: WriteTx) -> Accepted:
    if dedup_key is not None and not tx.remember_delivery(dedup_key):
        raise Duplicate(dedup_key)
    # Recorded one by one: a later event of the same delivery may be of the same pipeline.
    for index, (event, verdict) in enumerate(zip(events, routed.verdicts, strict=True)):
        if not still_holds(tx, event, verdict):
            raise _Rejudged(routed.verdicts[:index] + _judge_and_record(tx, events[index:]))
        record_run(tx, event, verdict)
    for event, event_plan in zip(events, routed.plans, strict=True):
        tx.insert_event(event, event_plan.decision)
        if event_plan.targets:
            tx.add_dispatches(event.id, [(t.route, t.receiver) for t in event_plan.targets])
    activity = [p.activity for p in routed.plans if p.activity is not None]
    if activity:
        tx.track_activity(activity, events[0].received_at.timestamp())
    steps = [s for p in routed.plans if p.oncall.writes for s in oncall.record(tx, p.oncall)]
    return Accepted(events, routed.plans, routed.finished, steps)


def _judge_and_record(tx: WriteTx, events: list[Event]) -> list[Verdict | None]:
    """The writer's own verdicts (the job's savepoint then undoes the runs recorded)."""
    verdicts = []
    for event in events:
        verdict = judge(tx, event)
        record_run(tx, event, verdict)
        verdicts.append(verdict)
    return verdicts


# Per event loop (tests run several): pipeline key -> [lock, deliveries holding or waiting].
_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, list[Any]]] = WeakKeyDictionary()


def _turns_taken(keys: list[str]) -> bool:
    """Whether deliveries are taking turns on one of these pipelines: join them, then."""
    turns = _turns.get(asyncio.get_running_loop(), {})
    return any(key in turns for key in keys)


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
