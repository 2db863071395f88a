"""What the on-call loop makes of an event when it is routed: whether a silence or an
acknowledgement quiets it, which escalation steps it starts, which trouble it ends.

Judged with the routing, off the event loop and against the state every replica shares
(app/oncall/book.py); written with the event (`record`), in its transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.events import Event, new_event_id
from app.oncall.book import BOOK, acked_reason, silenced_reason
from app.oncall.subjects import ends_trouble, incarnation, on_call, opens_trouble, subject_key
from app.routing.tree import Route
from app.store import ReadTx, WriteTx
from app.store.oncall import Step


@dataclass(frozen=True)
class Verdict:
    """The on-call side of one event's plan."""

    silenced_by: str | None = None
    acked_by: str | None = None
    subject: str = ""
    # Escalation steps the event's trouble starts.
    opens: tuple[Step, ...] = ()
    # Why the subject's trouble ended (resolved, fixed): None when it did not.
    ends: str | None = None
    # When the event was received (the end of the trouble, when it ends it).
    at: float = 0.0

    @property
    def writes(self) -> bool:
        return bool(self.opens) or self.ends is not None


QUIET = Verdict()


def judge(event: Event, routes: list[Route], history: ReadTx, inhibited: bool) -> Verdict:
    """Judge one routed event: `routes` are the ones it matched, `inhibited` whether an
    inhibit rule mutes it."""
    now = event.received_at.timestamp()
    view = BOOK.view(history, now)
    silence = view.silence_of(event.labels, now)
    silenced_by = silenced_reason(silence) if silence is not None else None
    if not on_call(event):
        return Verdict(silenced_by) if silenced_by else QUIET
    ack = view.ack_of(event)
    acked_by = acked_reason(ack) if ack is not None else None
    subject = subject_key(event)
    ends = None
    if ends_trouble(event) and (event.kind == "alert" or event.labels.get("transition") == "fixed"):
        ends = f"{'resolved' if event.kind == 'alert' else 'fixed'} by event {event.id}"
    opens: tuple[Step, ...] = ()
    quiet = silenced_by or acked_by or inhibited or event.old_news
    if opens_trouble(event) and not quiet:
        opens = tuple(_steps(event, subject, routes, now))
    return Verdict(silenced_by, acked_by, subject, opens, ends, now)


def _steps(event: Event, subject: str, routes: list[Route], now: float) -> list[Step]:
    at = event.received_at
    steps = []
    for route in routes:
        if route.settings.escalate and route.muting(at) is not None:
            continue  # a muted route pages nobody now, so nobody is late to answer
        for number, (after, receivers) in enumerate(route.settings.escalate, start=1):
            for receiver in receivers:
                steps.append(
                    Step(
                        id=new_event_id(),
                        subject=subject,
                        incarnation=incarnation(event),
                        route=route.path,
                        step=number,
                        receiver=receiver,
                        event_id=event.id,
                        after=after,
                        due_at=now + after,
                    )
                )
    return steps


def record(tx: WriteTx, verdict: Verdict) -> list[Step]:
    """Write what the verdict changes, in the event's transaction: the steps stored."""
    if verdict.ends is not None:
        now = time.time()
        tx.end_trouble(verdict.subject, verdict.at, verdict.ends)
        tx.end_acks(verdict.subject, now, verdict.ends)
        tx.stop_steps(verdict.subject, now, verdict.ends, close=True)
    return tx.open_steps(list(verdict.opens)) if verdict.opens else []
