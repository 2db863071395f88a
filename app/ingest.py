"""Accepting parsed events: dedup the delivery, label pipeline state, route, persist.

All of it happens in one store transaction, so an event is either stored with its
pipeline labels and routing decision or not at all, and two concurrent deliveries for one
pipeline cannot both read the same history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.bus.plan import Plan
from app.events import Event
from app.pipeline_state import apply_pipeline_state
from app.store import Store, WriteTx

PlanFn = Callable[[Event], Plan]


@dataclass(frozen=True)
class Accepted:
    events: list[Event]
    plans: list[Plan]
    # Ids of the events that finished their CI run (see apply_pipeline_state).
    finished_runs: set[str] = field(default_factory=set)


class Duplicate(Exception):
    """The sender already delivered this; it has been stored once."""


async def ingest(
    store: Store, events: Sequence[Event], dedup_key: str | None, plan: PlanFn
) -> Accepted:
    """Store the events of one delivery; raises Duplicate or StoreUnavailable."""

    def write(tx: WriteTx) -> Accepted:
        if dedup_key is not None and not tx.remember_delivery(dedup_key):
            raise Duplicate(dedup_key)
        plans = []
        finished_runs = set()
        for event in events:
            if apply_pipeline_state(tx, event):
                finished_runs.add(event.id)
            # Routed after the pipeline labels are set: rules match on `transition`.
            event_plan = plan(event)
            tx.insert_event(event, event_plan.decision)
            if event_plan.targets:
                tx.add_dispatches(event.id, [(t.route, t.receiver) for t in event_plan.targets])
            plans.append(event_plan)
        return Accepted(list(events), plans, finished_runs)

    return await store.write(write)
