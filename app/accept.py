"""Accepting a sender's events: store, count, log, hand to the bus (or wake the replica
that owns a receiver), show in the console.

One sequence, in this order, for every webhook: the hooks endpoint calls `accept`, and so
do the tests that drive the bus, so what is tested is what serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.bus.plan import PlanFn
from app.bus.worker import Bus
from app.events import Event
from app.ingest import Accepted, ingest
from app.logs import log
from app.observe import event_accepted
from app.store import Store


@dataclass(frozen=True)
class Intake:
    """Where accepted events go."""

    store: Store
    bus: Bus
    # The console's live feed, told after the bus; None when there is no console.
    publish: Callable[[Accepted], None] | None = None


async def accept(
    intake: Intake, events: Sequence[Event], dedup_key: str | None, plan: PlanFn
) -> Accepted:
    """Store the events (raises Duplicate or StoreUnavailable), then act on them."""
    accepted = await ingest(intake.store, events, dedup_key, plan)
    elsewhere: set[str] = set()
    for event, event_plan in zip(accepted.events, accepted.plans, strict=True):
        event_accepted(event, event_plan.decision, event.id in accepted.finished_runs)
        _log_received(event, event_plan.decision)
        elsewhere |= intake.bus.submit(event, event_plan.targets)
    if accepted.escalations:
        elsewhere |= intake.bus.escalator.schedule(accepted.escalations)
    if elsewhere:
        # Receivers other replicas own: their owners pick the work up from the store.
        await intake.store.wake(elsewhere)
    if intake.publish is not None:
        intake.publish(accepted)
    return accepted


def _log_received(event: Event, decision: dict[str, Any]) -> None:
    log(
        logging.INFO,
        "event received",
        event_id=event.id,
        # The sender's id (X-GitHub-Delivery, …); `delivery_id` names our deliveries.
        sender_delivery_id=event.delivery_id,
        fingerprint=event.fingerprint,
        source=event.source,
        kind=event.kind,
        status=event.status,
        project=event.labels.get("project"),
        pipeline=event.labels.get("pipeline"),
        transition=event.labels.get("transition"),
        old_news=event.old_news,
        routes=decision.get("routes"),
        receivers=decision.get("receivers"),
    )
