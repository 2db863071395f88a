"""Acknowledging trouble: someone owns it now, so its repeats and its escalation stop,
and the receivers that were paged are told who has it.

An acknowledgement covers the event's subject (the alert, the pipeline + branch) until
its trouble ends (resolved, fixed): the ack, the stop of every pending escalation step
and the announcements are one write, so a step due at the same moment either fired
before it (and is announced as acknowledged too) or never fires.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from app.bus.target import Target
from app.events import Event
from app.metrics import ACKNOWLEDGEMENTS
from app.oncall.book import acked_reason
from app.oncall.messages import ACKNOWLEDGEMENT, Write, oncall_delivery
from app.oncall.subjects import incarnation, is_trouble, on_call, subject_key
from app.store import DeliveryRecord, ReadTx, Store, WriteTx
from app.store.oncall import Ack, Told

VIAS = ("api", "console", "link", "slack")
for _via in VIAS:
    ACKNOWLEDGEMENTS.labels(_via)


class NotAcknowledgeable(Exception):
    """The event is unknown (`missing`) or not trouble anyone could own: the text says."""

    def __init__(self, detail: str, missing: bool = False) -> None:
        super().__init__(detail)
        self.missing = missing


class Announcer(Protocol):
    """What acknowledging needs of the bus."""

    def channel_type(self, receiver: str) -> str: ...

    def target_for(self, event: Event, route: str, receiver: str) -> Target: ...

    async def deliver_new(
        self, deliveries: list[DeliveryRecord], write: Write
    ) -> list[DeliveryRecord]: ...

    def stopped(self, step_ids: list[str]) -> None: ...


@dataclass(frozen=True)
class Acknowledged:
    ack: Ack
    # False: the trouble was acknowledged already (that acknowledgement is `ack`).
    created: bool
    told: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Found:
    event: Event
    # The receivers its trouble's messages went to (the page, its repeats, its steps).
    told: list[Told]


def _find(tx: ReadTx, event_id: str) -> _Found:
    found = tx.events_by_ids([event_id])
    if not found:
        raise NotAcknowledgeable(f"no event {event_id}", missing=True)
    event = found[0]
    if not on_call(event) or not is_trouble(event):
        raise NotAcknowledgeable(
            f"event {event_id} is {event.kind} {event.status}: only a firing alert or a "
            "failed pipeline can be acknowledged"
        )
    ended = tx.trouble_ended(subject_key(event))
    if ended is not None and ended[0] >= event.received_at.timestamp():
        # Its trouble is over: an ack now would quiet the next trouble, months later.
        raise NotAcknowledgeable(f"the trouble of event {event_id} has ended since: {ended[1]}")
    ids = {event.id}
    if event.kind == "alert":
        since = event.started_at.timestamp() if event.started_at else event.received_at.timestamp()
        ids.update(tx.events_of_fingerprint(event.fingerprint, since))
    ids.update(s.event_id for s in tx.steps_for([], [subject_key(event)]))
    return _Found(event, tx.told(sorted(ids)))


async def acknowledge(
    store: Store, bus: Announcer, event_id: str, by: str, comment: str, via: str
) -> Acknowledged:
    """Acknowledge the trouble of `event_id` for `by`; raises NotAcknowledgeable."""
    found = await store.read(lambda tx: _find(tx, event_id))
    event = found.event
    subject, mine = subject_key(event), incarnation(event)
    ack = Ack(str(uuid.uuid4()), subject, mine, event.id, by, comment, time.time())
    announcements = [
        oncall_delivery(
            bus.target_for(event, told.route, told.receiver),
            told.channel_type,
            event,
            ACKNOWLEDGEMENT,
            acked_reason(ack),
            f"acknowledgement of {subject}",
        )
        for told in found.told
    ]
    result: list[Acknowledged] = []
    stopped: list[str] = []

    def write(tx: WriteTx) -> list[DeliveryRecord]:
        for known in tx.acks_of([subject]):
            if known.ended_at is None and known.incarnation in ("", mine):
                result.append(Acknowledged(known, created=False))
                return []
        tx.add_ack(ack)
        stopped.extend(tx.stop_steps(subject, ack.at, acked_reason(ack), close=False))
        for delivery in announcements:
            tx.insert_delivery(delivery, [])
        result.append(Acknowledged(ack, True, tuple(d.receiver for d in announcements)))
        return announcements

    await bus.deliver_new(announcements, write)
    bus.stopped(stopped)
    if result[0].created:
        ACKNOWLEDGEMENTS.labels(via if via in VIAS else "api").inc()
    return result[0]
