"""The deliveries the on-call loop sends besides news: an escalation step's page, the
announcement of an acknowledgement. Each is one event for one receiver, stored and sent
like any delivery (retried, recorded, listed), with a note saying why it was sent."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.bus.target import Target
from app.events import Event, new_event_id
from app.store import DeliveryRecord, WriteTx

# DeliveryRecord.purpose of each kind.
ESCALATION = "escalation"
ACKNOWLEDGEMENT = "acknowledgement"

# Stores a set of new deliveries with what goes with them; returns those it stored.
Write = Callable[[WriteTx], list[DeliveryRecord]]


def oncall_delivery(
    target: Target, channel_type: str, event: Event, purpose: str, note: str, key: str
) -> DeliveryRecord:
    """A pending delivery telling `target` of `event`, sent for `purpose` (its `note` is
    in the message's title); `key` names it among the receiver's groups."""
    return DeliveryRecord(
        id=new_event_id(),
        receiver=target.receiver,
        channel_type=channel_type,
        route=target.route,
        group_key=key,
        event_ids=[event.id],
        state="pending",
        created_at=time.time(),
        template=target.template,
        # In order with the subject's news: an announcement never overtakes the page.
        order_key=Target(target.route, target.receiver).order_key(event, ""),
        note=note,
        purpose=purpose,
    )
