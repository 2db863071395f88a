"""Delivery rows: how one is made for a flush, a fallback or a digest, and how it ends.

Pure bookkeeping on DeliveryRecord (plus its metrics and its log line); the bus decides
when, this module says what the row then holds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from app.bus.grouping import Flushing
from app.events import new_event_id
from app.logs import log
from app.metrics import DELIVERIES, DELIVERY_ATTEMPTS
from app.store import DeliveryRecord

# A digest lists this many events and counts the rest.
DIGEST_LISTED = 10


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def for_flush(flushing: Flushing, channel_type: str) -> DeliveryRecord:
    """The pending row one group flush becomes."""
    group, target = flushing.group, flushing.group.target
    return DeliveryRecord(
        id=new_event_id(),
        receiver=target.receiver,
        channel_type=channel_type,
        route=target.route,
        group_key=group.key,
        event_ids=[e.id for e in flushing.events],
        state="pending",
        created_at=time.time(),
        group_labels=group.labels,
        template=target.template,
        order_key=group.order_key,
    )


def for_fallback(dead: DeliveryRecord, receiver: str, channel_type: str) -> DeliveryRecord:
    """What a dead delivery's channel hands to its fallback_channel, marked as such."""
    return DeliveryRecord(
        id=new_event_id(),
        receiver=receiver,
        channel_type=channel_type,
        route=dead.route,
        group_key=dead.group_key,
        event_ids=dead.event_ids,
        state="pending",
        created_at=time.time(),
        group_labels=dead.group_labels,
        is_fallback=True,
        folded=dead.folded,
        order_key=dead.order_key,
    )


def fold(backlog: list[DeliveryRecord]) -> DeliveryRecord:
    """One digest standing for every delivery of `backlog`, which are marked folded into it."""
    event_ids = [i for d in backlog for i in d.event_ids]
    digest = DeliveryRecord(
        id=new_event_id(),
        receiver=backlog[0].receiver,
        channel_type=backlog[0].channel_type,
        route="digest",
        group_key=f"digest of {len(backlog)} deliveries",
        event_ids=event_ids,
        state="pending",
        created_at=min(d.created_at for d in backlog),
        folded=max(0, len(event_ids) - DIGEST_LISTED),
    )
    for d in backlog:
        d.state = "folded"
        d.folded_into = digest.id
        d.attempts.append(
            {"at": now_iso(), "outcome": "folded", "detail": f"folded into {digest.id}"}
        )
        DELIVERIES.labels(d.channel_type, "folded").inc()
    return digest


def finish(delivery: DeliveryRecord, state: str, detail: str) -> None:
    """Record one outcome: the state it leaves the row in, and the attempt it was."""
    delivery.state = state
    delivery.attempts.append({"at": now_iso(), "outcome": state, "detail": detail})
    delivery.last_error = None if state in {"sent", "skipped"} else detail
    delivery.next_attempt_at = None
    DELIVERIES.labels(delivery.channel_type, state).inc()
    if state in {"sent", "failed", "dead"}:
        DELIVERY_ATTEMPTS.labels(delivery.channel_type).inc()


def log_delivery(level: int, msg: str, delivery: DeliveryRecord, **fields: Any) -> None:
    log(
        level,
        msg,
        delivery_id=delivery.id,
        receiver=delivery.receiver,
        event_ids=delivery.event_ids,
        **fields,
    )


__all__ = ["DIGEST_LISTED", "finish", "fold", "for_fallback", "for_flush", "log_delivery"]
