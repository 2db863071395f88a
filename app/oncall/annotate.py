"""The on-call state of listed events (GET /api/events, the console): who acknowledged
each one's trouble, which silences match it now, and its escalation steps."""

from __future__ import annotations

import time
from typing import Any

from app.events import Event
from app.oncall.book import BOOK
from app.oncall.silences import iso
from app.oncall.subjects import incarnation, is_trouble, on_call, subject_key
from app.store import ReadTx
from app.store.oncall import Ack, Step


def annotate(tx: ReadTx, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add `ack` ({by, at, comment, ended_at, ended_by} or None), `silences` (ids of the
    silences matching it now) and `escalation` (its steps) to list_events' items."""
    now = time.time()
    events = [Event.model_validate(item) for item in items]
    followed = [e for e in events if on_call(e)]
    subjects = sorted({subject_key(e) for e in followed})
    acks = tx.acks_of(subjects) if subjects else []
    steps = tx.steps_for([e.id for e in followed], subjects) if followed else []
    view = BOOK.view(tx, now)
    for item, event in zip(items, events, strict=True):
        item["silences"] = [s.silence.id for s in view.silences if s.quiets(event.labels, now)]
        ack = _ack_for(event, acks)
        item["ack"] = ack_json(ack) if ack is not None else None
        item["escalation"] = [_step_json(s) for s in _steps_for(event, steps)]
    return items


def _ack_for(event: Event, acks: list[Ack]) -> Ack | None:
    """The acknowledgement of the trouble this event belongs to (acks: newest first)."""
    if not on_call(event) or not is_trouble(event):
        return None
    subject, mine = subject_key(event), incarnation(event)
    at = event.received_at.timestamp()
    for ack in acks:
        if ack.subject != subject or ack.incarnation not in ("", mine):
            continue
        # A pipeline's ack covers the failures up to its fix, not those before a fix.
        if ack.ended_at is None or ack.ended_at >= at:
            return ack
    return None


def _steps_for(event: Event, steps: list[Step]) -> list[Step]:
    if not on_call(event):
        return []
    subject = subject_key(event)
    return [s for s in steps if s.event_id == event.id or (s.subject == subject and not s.closed)]


def ack_json(ack: Ack) -> dict[str, Any]:
    return {
        "id": ack.id,
        "by": ack.by,
        "at": iso(ack.at),
        "comment": ack.comment,
        "event_id": ack.event_id,
        "ended_at": iso(ack.ended_at) if ack.ended_at is not None else None,
        "ended_by": ack.ended_by,
    }


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "step": step.step,
        "receiver": step.receiver,
        "route": step.route,
        "due_at": iso(step.due_at),
        "state": step.state,
        "note": step.note,
    }


def annotated_event(tx: ReadTx, event_id: str) -> dict[str, Any] | None:
    """One event as list_events gives it, annotated; None when it is not stored."""
    found = annotate(tx, tx.list_events(limit=1, event_id=event_id))
    return found[0] if found else None
