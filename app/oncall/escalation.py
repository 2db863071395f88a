"""Escalation: trouble nobody acknowledged or resolved in time is sent to the next
receivers, step by step, each step once.

Steps are rows in the store, written with the event that opened the trouble. Each is
fired by the replica holding its receiver's lease — which sends to that receiver anyway
— when it is due: one write marks it fired and stores its delivery, on the condition
that it is still pending, so an acknowledgement or a resolution that commits first stops
it, and a replica taking the receiver over (or this one, restarted) finds it either
still pending or fired, never both. The delivery is then sent, retried and recorded like
any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from app.bus.target import Target
from app.durations import format_duration
from app.events import Event
from app.logs import log
from app.metrics import ESCALATION_STEPS
from app.oncall.book import BOOK, silenced_reason
from app.oncall.messages import ESCALATION, Write, oncall_delivery
from app.store import DeliveryRecord, ReadTx, Store, StoreUnavailable, WriteTx
from app.store.oncall import Step

# Seconds before a step that could not be fired (the store refused) is tried again.
RETRY_SECONDS = 1.0
# ... and one that failed otherwise (a bug): not a hot loop, and it stays pending.
BROKEN_RETRY_SECONDS = 60.0
STEP_OUTCOMES = ("fired", "stopped", "silenced", "stale")
for _outcome in STEP_OUTCOMES:
    ESCALATION_STEPS.labels(_outcome)


class Deliverer(Protocol):
    """What the escalator needs of the bus."""

    def owns(self, receiver: str) -> bool: ...

    def channel_type(self, receiver: str) -> str: ...

    def target_for(self, event: Event, route: str, receiver: str) -> Target: ...

    async def deliver_new(
        self, deliveries: list[DeliveryRecord], write: Write
    ) -> list[DeliveryRecord]: ...


def note_of(step: Step) -> str:
    """What an escalated message says of itself."""
    return f"escalated: not acknowledged for {format_duration(timedelta(seconds=step.after))}"


@dataclass(frozen=True)
class _Judged:
    """What was found before firing: the step's event, or why it must not fire."""

    event: Event | None
    why_not: str | None
    outcome: str = "fired"


class Escalator:
    """Holds the pending steps of the receivers this replica owns and fires each at its
    time; the store stays the record."""

    def __init__(self, store: Store, bus: Deliverer) -> None:
        self.store = store
        self.bus = bus
        self._due: dict[str, Step] = {}
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, steps: Iterable[Step]) -> set[str]:
        """Hold the steps of owned receivers; the receivers of the others, whose owners
        must be woken to load theirs."""
        elsewhere = set()
        held = 0
        for step in steps:
            if self.bus.owns(step.receiver):
                self._due[step.id] = step
                held += 1
            else:
                elsewhere.add(step.receiver)
        if held:
            self._start()
            self._poke.set()
        return elsewhere

    async def load(self, receivers: Iterable[str]) -> int:
        """Take in hand the pending steps stored for these (owned) receivers."""
        names = sorted(receivers)
        if not names:
            return 0
        steps = await self.store.read(lambda tx: tx.pending_steps(names))
        fresh = [s for s in steps if s.id not in self._due]
        self.schedule(fresh)
        return len(fresh)

    def forget(self, receivers: set[str] | None = None, ids: Iterable[str] = ()) -> None:
        """Let go of the steps of receivers another replica owns now, or of these steps
        (stopped by an acknowledgement made here)."""
        for step_id in ids:
            self._due.pop(step_id, None)
        if receivers:
            self._due = {i: s for i, s in self._due.items() if s.receiver not in receivers}

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="escalator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._poke.clear()
            now = time.time()
            for step in sorted(
                (s for s in self._due.values() if s.due_at <= now), key=lambda s: s.due_at
            ):
                await self._fire(step)
            upcoming = [s.due_at for s in self._due.values()]
            wait = max(0.0, min(upcoming) - time.time()) if upcoming else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), wait)

    async def _fire(self, step: Step) -> None:
        if not self.bus.owns(step.receiver):
            # Its lease lapsed or moved: the owner loads the step when it takes over.
            self._due.pop(step.id, None)
            return
        try:
            judged = await self.store.read(lambda tx: self._judge(step, tx))
            fired = await self._commit(step, judged)
        except StoreUnavailable as exc:
            log(logging.WARNING, "escalation step not fired yet", step=step.id, error=str(exc))
            self._due[step.id] = _later(step, RETRY_SECONDS)
            return
        except Exception as exc:  # one bad step must not stop the others
            log(
                logging.ERROR,
                "escalation step failed, tried again later",
                step=step.id,
                error=f"{type(exc).__name__}: {exc}",
            )
            self._due[step.id] = _later(step, BROKEN_RETRY_SECONDS)
            return
        self._due.pop(step.id, None)
        outcome = judged.outcome if judged.why_not or fired else "stopped"
        ESCALATION_STEPS.labels(outcome).inc()
        log(
            logging.INFO if fired else logging.DEBUG,
            "escalation step fired" if fired else "escalation step not fired",
            step=step.id,
            event_id=step.event_id,
            route=step.route,
            receiver=step.receiver,
            delivery_id=fired[0].id if fired else None,
            reason=judged.why_not,
        )

    def _judge(self, step: Step, tx: ReadTx) -> _Judged:
        """On the reader thread: is the step's trouble still worth a page?"""
        found = tx.events_by_ids([step.event_id])
        if not found:
            return _Judged(None, "its event is no longer stored", "stale")
        event, now = found[0], time.time()
        silence = BOOK.view(tx, now).silence_of(event.labels, now)
        if silence is not None:
            return _Judged(event, silenced_reason(silence), "silenced")
        if event.kind == "alert":
            heard = tx.last_heard([event.fingerprint]).get(event.fingerprint, 0.0)
            limit = self.bus.target_for(event, step.route, step.receiver).resolve_timeout
            if now - heard > limit:
                return _Judged(event, f"stale: no news of the alert for {limit:g}s", "stale")
        return _Judged(event, None)

    async def _commit(self, step: Step, judged: _Judged) -> list[DeliveryRecord]:
        now = time.time()
        if judged.why_not is not None or judged.event is None:
            why = judged.why_not or "its event is no longer stored"
            await self.store.write(lambda tx: tx.drop_step(step.id, now, why))
            return []
        delivery = self._delivery(step, judged.event)

        def write(tx: WriteTx) -> list[DeliveryRecord]:
            if not tx.fire_step(step.id, now, f"sent as delivery {delivery.id}"):
                return []  # acknowledged, resolved or fired meanwhile
            tx.insert_delivery(delivery, [])
            return [delivery]

        return await self.bus.deliver_new([delivery], write)

    def _delivery(self, step: Step, event: Event) -> DeliveryRecord:
        target = self.bus.target_for(event, step.route, step.receiver)
        key = f"escalation step {step.step} of {step.subject}"
        channel = self.bus.channel_type(step.receiver)
        return oncall_delivery(target, channel, event, ESCALATION, note_of(step), key)


def _later(step: Step, seconds: float) -> Step:
    return replace(step, due_at=time.time() + seconds)
