"""The bus: stages → groups → one sender per receiver → send, retry, dead, fallback.

Every step that matters is a store write before it is acted on: a dispatch is stored
with its event, a group flush becomes a delivery row in the same transaction that ends
its dispatches, and each attempt is recorded. A restart resumes from those rows.

A replica works only for the receivers it holds a lease on (app/bus/ownership.py): it
takes a receiver over with the state its last owner stored (dedup memory, groups, recent
sends, penalties) and its open work, and wakes the owners of the others when it stores
work for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from app.bus import records
from app.bus.channelset import ChannelSet, LiveChannel
from app.bus.grouping import Flushing, Group, Grouper
from app.bus.plan import Mentioner
from app.bus.ratelimit import SlidingWindow
from app.bus.retry import RetryPolicy
from app.bus.sender import Sender
from app.bus.stages import (
    Acknowledged,
    Dedup,
    Inhibited,
    OldNews,
    SendResolved,
    Silenced,
    Stage,
    TimeMute,
)
from app.bus.target import Dispatch, Target
from app.events import Event
from app.logs import log
from app.metrics import DISPATCHES_DROPPED, SEND_LATENCY
from app.oncall.book import acked
from app.oncall.escalation import Escalator
from app.oncall.tokens import AckLinks, ack_links
from app.store import (
    OPEN_DELIVERY_STATES,
    DeliveryRecord,
    ReadTx,
    Store,
    StoreUnavailable,
    Suppression,
    WriteTx,
)
from channels.base import (
    ChannelConfig,
    DeliveryError,
    DeliveryResult,
    Notification,
    PermanentError,
    TooLarge,
    TransientError,
)
from channels.redact import Redactor

# Seconds a channel replaced by a reload stays open for sends already under way.
RETIRED_GRACE = 60.0
# Seconds between tries to record a send while the store is down: doubling up to the max.
RECORD_RETRY_FIRST = 0.2
RECORD_RETRY_MAX = 2.0

TargetFor = Callable[[Event, str, str], Target]
DispatchKey = tuple[str, str, str]


class Bus:
    def __init__(self, store: Store, policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()
        self.channels = ChannelSet()
        self.dedup = Dedup()
        self.stages: list[Stage] = [
            OldNews(),
            SendResolved(),
            TimeMute(),
            Inhibited(),
            Silenced(),
            Acknowledged(),
            self.dedup,
        ]
        self.grouper = Grouper(
            self._flush,
            self._last_heard,
            self._stopped_repeating,
            self._group_ended,
            self._acknowledged,
        )
        # Receiver -> until when this replica may send to it (its lease, less a margin).
        self._leases: dict[str, float] = {}
        # Dispatches and deliveries this replica has taken in hand, so that picking up the
        # store's open work again does not take them twice.
        self._taken: set[DispatchKey] = set()
        self._queued: set[str] = set()
        self._resuming: set[str] = set()
        self._target_for: TargetFor | None = None
        self._senders: dict[str, Sender] = {}
        self._events: dict[str, list[Event]] = {}
        # When each message of a delivery under way was sent, and a provider's penalty:
        # written with the delivery's next state (see _save).
        self._sent_at: dict[str, list[float]] = {}
        self._paused: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._retired: dict[str, LiveChannel] = {}
        # Route path -> its template source in the config in force (see configure).
        self._route_templates: dict[str, str | None] = {}
        self._mentions: Mentioner | None = None
        self._closers: dict[asyncio.Task[None], LiveChannel] = {}
        self.escalator = Escalator(store, self)
        # Signs the acknowledgement links of messages (set once the store has the key).
        self.links: AckLinks | None = None
        # Deliveries sent whose new state the store has not taken yet (it is down). While
        # there are any, nothing more is sent: whoever resumes the receiver would find
        # each such send still open and send it again.
        self._unrecorded: set[str] = set()
        self._closing = False

    # -- ownership ----------------------------------------------------------------

    def hold(self, leases: Mapping[str, float], margin: float, gained: Iterable[str] = ()) -> None:
        """The receivers this replica holds leases on, and when each lapses: it sends to
        them until `margin` before that, so it has stopped before another may start.
        New events for the `gained` ones wait in the store until `take_over` has taken
        their older work in hand, so that each subject is told in order."""
        self._leases = {receiver: until - margin for receiver, until in leases.items()}
        self._resuming |= set(gained)

    def owned(self) -> set[str]:
        return set(self._leases)

    def owns(self, receiver: str) -> bool:
        """Whether this replica may send to the receiver now. Taking work in for it only
        needs the lease held (`owned`): a renewal late under load must not turn work away,
        to come back later behind what arrived meanwhile."""
        return self._leases.get(receiver, 0.0) > time.time()

    def lapsed(self) -> set[str]:
        """Receivers whose lease ran out without being renewed (the store is down)."""
        now = time.time()
        return {receiver for receiver, until in self._leases.items() if until <= now}

    async def take_over(self, receivers: set[str]) -> int:
        """Carry on these receivers' work as their last owner left it; how much was open.

        Their senders start once all of it is queued: a subject's earlier event may
        still be a dispatch when its later one is a stored delivery already (the last
        owner died between the two), and the sender puts each subject's deliveries in
        event order only among those it has.
        """
        names = sorted(receivers)
        news = await self.store.read(lambda tx: tx.news_of(names, time.time()))
        self.dedup.load(news)
        try:
            for receiver in names:
                await self._open_sender(receiver)
            groups = await self.store.read(lambda tx: tx.groups_of(names))
            ids = [i for g in groups for i in g.firing]
            events = {e.id: e for e in await self.store.read(lambda tx: tx.events_by_ids(ids))}
            for state in groups:
                firing = [events[i] for i in state.firing if i in events]
                if firing and self._target_for is not None:
                    target = self._target_for(firing[0], state.route, state.receiver)
                    self.grouper.resume(state, target, firing)
            resumed = await self.pick_up(receivers, resuming=True)
            await self.grouper.flushed()
        finally:
            self._resuming -= receivers
            for receiver in names:
                sender = self._senders.get(receiver)
                if sender is not None:
                    sender.start()
        # What arrived for them meanwhile, after what was older.
        return resumed + await self.pick_up(receivers) + len(groups)

    async def let_go(self, receivers: set[str], drain: bool = False) -> None:
        """Stop working for receivers another replica owns now (or is handed: `drain`
        lets sends under way end first). Their open work stays in the store for it."""
        for receiver in receivers:
            self._leases.pop(receiver, None)
        self._resuming -= receivers
        self.grouper.drop(receivers)
        self.dedup.forget(receivers)
        self.escalator.forget(receivers)
        for receiver in receivers:
            sender = self._senders.pop(receiver, None)
            if sender is not None:
                if drain:
                    await sender.quiesce()
                await sender.stop()
                # Still open: the next owner picks them up. Finished ones stay reserved
                # until their final state is stored (see _store).
                self._queued -= sender.delivery_ids()
        self._taken = {k for k in self._taken if k[2] not in receivers}
        if drain:
            # Handed over, not lost: what was sent is recorded before the lease goes, or
            # the next owner would find it still open and send it again.
            await self.recorded()

    async def pick_up(self, receivers: set[str] | None = None, resuming: bool = False) -> int:
        """Take in hand the open work stored for owned receivers (all, or these) that this
        replica does not have yet: what another replica accepted for them, what a
        previous owner left. How many dispatches and deliveries were picked up."""
        # A receiver being taken over is picked up by take_over alone, after its sender
        # has the previous owner's send times (a wake-up must not open it unseeded).
        names = sorted(
            r
            for r in (self.owned() if receivers is None else receivers)
            if r in self._leases and (resuming or r not in self._resuming)
        )
        if not names:
            return 0
        # Ids first: a backlog already queued here is not read again every round.
        open_ids = await self.store.read(lambda tx: tx.open_deliveries(names))
        unknown = [i for i in open_ids if i not in self._queued]
        fresh = await self.store.read(lambda tx: tx.deliveries_by_ids(unknown)) if unknown else []
        for delivery in fresh:
            self._enqueue(delivery)
        dispatches = await self.store.read(lambda tx: tx.open_dispatches(names))
        waiting = [k for k in dispatches if k not in self._taken]
        ids = list(dict.fromkeys(e for e, _, _ in waiting))
        events = {e.id: e for e in await self.store.read(lambda tx: tx.events_by_ids(ids))}
        for event_id, route, receiver in waiting:
            event = events.get(event_id)
            if event is not None and self._target_for is not None:
                self.submit(event, [self._target_for(event, route, receiver)], resuming)
        steps = await self.escalator.load(names)
        return len(fresh) + len(waiting) + steps

    def woken(self, receivers: set[str]) -> None:
        """Another replica stored work for these receivers (the store's wake-up)."""
        mine = receivers & self.owned()
        if mine:
            self._spawn(self._pick_up_quietly(mine))

    async def _pick_up_quietly(self, receivers: set[str]) -> None:
        try:
            await self.pick_up(receivers)
        except StoreUnavailable as exc:
            # The next lease round picks it up again.
            log(logging.WARNING, "could not pick up work", error=str(exc))

    # -- intake -----------------------------------------------------------------

    def submit(self, event: Event, targets: Iterable[Target], resuming: bool = False) -> set[str]:
        """Hand a stored event's (route, receiver) targets to the stages and groups; the
        receivers owned by other replicas are returned, to be woken. Those being taken
        over are left in the store for the takeover (unless it is `resuming` them)."""
        now = time.time()
        elsewhere: set[str] = set()
        dropped: list[Suppression] = []
        for target in targets:
            if target.receiver not in self._leases:
                elsewhere.add(target.receiver)
                continue
            if target.receiver in self._resuming and not resuming:
                continue
            dispatch = Dispatch(event, target)
            if dispatch.key in self._taken:
                continue
            self._taken.add(dispatch.key)
            stage, reason = next(
                ((s.name, r) for s in self.stages if (r := s(dispatch, now))), ("", None)
            )
            if reason is None:
                self.grouper.add(dispatch)
                continue
            dropped.append(Suppression(event.id, target.route, target.receiver, stage, reason))
        if dropped:
            self._suppress(dropped, "delivery not needed")
        return elsewhere

    def _suppress(self, suppressed: list[Suppression], message: str) -> None:
        """Count, log and record receivers not told on purpose (the write is not awaited)."""
        for item in suppressed:
            DISPATCHES_DROPPED.labels(item.receiver, item.stage).inc()
            log(
                logging.INFO,
                message,
                event_id=item.event_id,
                route=item.route,
                receiver=item.receiver,
                reason=item.reason,
            )

        async def write() -> None:
            await self.store.write(lambda tx: tx.suppress(suppressed))
            self._taken -= {(s.event_id, s.route, s.receiver) for s in suppressed}

        self._spawn(write())

    async def _last_heard(self, fingerprints: list[str]) -> dict[str, float]:
        # Every event received counts, duplicates dropped by dedup included: Alertmanager
        # repeating a firing alert is fresh news that it still fires.
        return await self.store.read(lambda tx: tx.last_heard(fingerprints))

    async def _acknowledged(self, firing: list[Event]) -> dict[str, tuple[str, str]]:
        # A group's repeats of an acknowledged alert stop as its news does (Acknowledged).
        found = await self.store.read(lambda tx: acked(tx, firing))
        return {fingerprint: (Acknowledged.name, why) for fingerprint, why in found.items()}

    def _stopped_repeating(self, group: Group, stale: list[tuple[Event, str, str]]) -> None:
        target = group.target
        suppressed = [
            Suppression(event.id, target.route, target.receiver, stage, why)
            for event, stage, why in stale
        ]
        self._suppress(suppressed, "alert gone stale")

    def _group_ended(self, group: Group) -> None:
        self._spawn(self.store.write(lambda tx: tx.drop_group(group.key)))

    async def _flush(self, batch: list[Flushing]) -> None:
        """Turn group flushes into delivery rows (one write, with what the groups keep for
        their repeats) and hand them to senders."""
        made = [(self._delivery_for(f), f) for f in batch if f.events]
        sending = {d.id for d, _ in made if d.state != "skipped"}
        # The news let through since the last flush is remembered with it (only what
        # passes dedup changes its memory, and all that passes is flushed).
        told, forgotten = self.dedup.drain()

        stale: set[str] = set()

        def write(tx: WriteTx) -> None:
            tx.remember_news(told)
            tx.forget_news(forgotten)
            stale.clear()  # the write may run again
            for delivery, flushing in made:
                if not tx.insert_delivery(delivery, flushing.dispatched):
                    stale.add(delivery.id)
            for flushing in batch:
                group = flushing.group
                if group.repeats:
                    tx.save_group(group.state())
                elif group.target.group_wait > 0:
                    tx.drop_group(group.key)

        self._queued |= sending
        try:
            await self.store.write(write)
        except BaseException:
            self._queued -= sending
            self.dedup.undrain(told, forgotten)
            raise
        for flushing in batch:
            self._taken.difference_update(flushing.dispatched)
        self._queued -= stale
        for delivery, flushing in made:
            if delivery.id in stale:
                continue
            # The line that ties a delivery id to its events and route, whatever happens.
            records.log_delivery(
                logging.INFO,
                "delivery skipped" if delivery.state == "skipped" else "delivery queued",
                delivery,
                route=delivery.route,
                group_key=delivery.group_key,
            )
            if delivery.state != "skipped":
                self._events[delivery.id] = flushing.events
                self._enqueue(delivery, reserved=True)

    async def deliver_new(
        self, deliveries: list[DeliveryRecord], write: Callable[[WriteTx], list[DeliveryRecord]]
    ) -> list[DeliveryRecord]:
        """Store new deliveries made outside a flush (escalation steps, acknowledgements):
        `write` stores those of `deliveries` it decides to, with whatever goes with them,
        and returns them; each is then sent from here or its receiver's owner is woken."""
        ids = {d.id for d in deliveries}
        self._queued |= ids
        try:
            stored = await self.store.write(write)
        except BaseException:
            self._queued -= ids
            raise
        self._queued -= ids - {d.id for d in stored}
        for delivery in stored:
            records.log_delivery(
                logging.INFO, "delivery queued", delivery, route=delivery.route, note=delivery.note
            )
            self._enqueue(delivery, reserved=True)
        return stored

    def stopped(self, step_ids: list[str]) -> None:
        """These escalation steps were stopped (acknowledged): not to be fired from here."""
        self.escalator.forget(ids=step_ids)

    def channel_type(self, receiver: str) -> str:
        live = self._live(receiver)
        return live.type_name if live else "unknown"

    def target_for(self, event: Event, route: str, receiver: str) -> Target:
        """The target of stored work under the config in force."""
        if self._target_for is None:
            return Target(route, receiver)
        return self._target_for(event, route, receiver)

    def _delivery_for(self, flushing: Flushing) -> DeliveryRecord:
        live = self._live(flushing.group.target.receiver)
        delivery = records.for_flush(flushing, live.type_name if live else "unknown")
        if live is not None and not live.config.enabled():
            records.finish(delivery, "skipped", "channel disabled: its URL or key is not set")
        return delivery

    # -- sending ----------------------------------------------------------------

    def _sender(self, receiver: str, start: bool = True) -> Sender:
        sender = self._senders.get(receiver)
        if sender is None:
            live = self._live(receiver)
            limit, window = live.rate if live else (1, 1.0)
            concurrency = live.config.max_in_flight() if live else 1
            sender = Sender(
                receiver, SlidingWindow(limit, window), self._attempt, self._fold, concurrency
            )
            self._senders[receiver] = sender
            if start:
                sender.start()
        return sender

    async def _open_sender(self, receiver: str) -> None:
        """The receiver's sender (not started), its window holding the sends its previous owner made
        (its provider counts those too) and any penalty still running."""
        if receiver in self._senders:
            return
        sender = self._sender(receiver, start=False)
        since = time.time() - sender.limiter.window

        def read(tx: ReadTx) -> tuple[list[float], float]:
            return tx.recent_sends(receiver, since), tx.paused_until(receiver)

        sent, paused_until = await self.store.read(read)
        sender.limiter.seed(sent, paused_until)

    def _enqueue(self, delivery: DeliveryRecord, reserved: bool = False) -> None:
        """Queue a delivery here if this replica owns its receiver, else wake the owner.

        A delivery is `reserved` when its id went into `_queued` before the write that
        stored it: picking up, which reads what the store lists as open, may have seen it
        already, and must not have queued it too.
        """
        if delivery.receiver not in self._leases:
            self._queued.discard(delivery.id)
            self._spawn(self.store.wake({delivery.receiver}))
            return
        if not reserved and delivery.id in self._queued:
            return
        self._queued.add(delivery.id)
        self._sender(delivery.receiver).enqueue(delivery)

    async def _attempt(self, delivery: DeliveryRecord, limiter: SlidingWindow) -> bool:
        if not self.owns(delivery.receiver) or self._unrecorded:
            # The lease lapsed (renewals failing): another replica may be sending now. Or
            # sends cannot be recorded: each would be sent again by the next owner.
            delivery.next_attempt_at = time.time() + 1.0
            return False
        live = self._live(delivery.receiver)
        if live is None:
            await self._dead(delivery, f"channel {delivery.receiver!r} is not configured")
            return True
        events = self._events.get(delivery.id)
        if events is None:
            events = await self.store.read(lambda tx: tx.events_by_ids(delivery.event_ids))
            self._events[delivery.id] = events
        listed = events[: records.DIGEST_LISTED] if delivery.folded else events
        notification = Notification(
            receiver=delivery.receiver,
            route=delivery.route,
            group_key=delivery.group_key,
            events=listed,
            group_labels=delivery.group_labels,
            is_fallback=delivery.is_fallback,
            folded=len(events) - len(listed),
            template=self._template_for(delivery),
            note=delivery.note,
            ack_links=ack_links(self.links, delivery, listed),
            mentions=self._mentions(delivery.route, listed) if self._mentions else (),
            delivery_id=delivery.id,
        )
        try:
            result = await self._tell(live, delivery, notification, limiter)
        except TransientError as exc:
            if exc.retry_after:
                self._paused[delivery.receiver] = limiter.pause(exc.retry_after)
            return await self._failed(delivery, exc.detail, exc.retry_after)
        except PermanentError as exc:
            await self._dead(delivery, exc.detail)
            return True
        records.finish(delivery, "sent", result.detail)
        # Not awaited: the slot and the subject move on while the row commits with others.
        # A crash before that commit re-sends this one delivery after restart.
        self._spawn(self._record_sent(delivery))
        self._delivered(delivery, events)
        return True

    def _template_for(self, delivery: DeliveryRecord) -> str | None:
        """The route's template as the config in force has it (a fallback uses its own
        channel's); a route removed since keeps the one it had."""
        if delivery.is_fallback:
            return None
        return self._route_templates.get(delivery.route, delivery.template)

    async def _tell(
        self,
        live: LiveChannel,
        delivery: DeliveryRecord,
        notification: Notification,
        limiter: SlidingWindow,
    ) -> DeliveryResult:
        """Render and send what is left of the delivery; raises TransientError or
        PermanentError, whatever went wrong in the channel."""
        try:
            pending = (await live.channel.render(notification))[delivery.parts_sent :]
            result = DeliveryResult("nothing left to send")
            while pending:
                message = pending[0]
                await limiter.acquire()
                try:
                    result = await live.channel.send(message)
                except TooLarge:
                    pending[:1] = await live.channel.split_for_retry(message)
                    continue
                finally:
                    self._sent_at.setdefault(delivery.id, []).append(limiter.release())
                pending.pop(0)
                delivery.parts_sent += 1
        except DeliveryError:
            raise
        except Exception as exc:
            # A template that fails to render, a value the channel cannot encode, a setting
            # its HTTP client refuses: the next attempt would fail the same way.
            redact = Redactor.for_config(live.config)
            detail = redact(f"{type(exc).__name__}: {exc}"[:500])
            raise PermanentError(f"cannot be sent: {detail}") from exc
        return result

    def _save(self, delivery: DeliveryRecord) -> Callable[[WriteTx], None]:
        """The write of a delivery's new state, with the sends it made (for the receiver's
        rate-limit window wherever it is sent from next) and any penalty it earned."""
        sent = self._sent_at.pop(delivery.id, [])
        paused = self._paused.pop(delivery.receiver, None)

        def write(tx: WriteTx) -> None:
            tx.save_delivery(delivery)
            if sent:
                tx.log_sends(delivery.receiver, sent)
            if paused is not None:
                tx.pause_receiver(delivery.receiver, paused)

        return write

    async def _store(self, delivery: DeliveryRecord) -> None:
        """Write the delivery's new state; a finished one is let go of once that is stored
        (until then the store lists it as open, and picking up must not take it again)."""
        await self.store.write(self._save(delivery))
        if delivery.state not in OPEN_DELIVERY_STATES:
            self._queued.discard(delivery.id)

    async def _record_sent(self, delivery: DeliveryRecord) -> None:
        """Store a sent delivery's state, trying again while the store is down (sending
        waits meanwhile, see _attempt): unrecorded, it would be sent again by whoever
        resumes the receiver. Given up when the bus closes, or on an error that is not
        the store's (a bug must not stop every send of this replica)."""
        pause = RECORD_RETRY_FIRST
        try:
            while True:
                try:
                    await self._store(delivery)
                except StoreUnavailable as exc:
                    if delivery.id not in self._unrecorded:
                        records.log_delivery(
                            logging.ERROR,
                            "sent, not recorded yet: sending waits until the store is back",
                            delivery,
                            error=str(exc),
                        )
                    self._unrecorded.add(delivery.id)
                    if self._closing:
                        records.log_delivery(logging.ERROR, "sent, but not recorded", delivery)
                        return
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, RECORD_RETRY_MAX)
                else:
                    if delivery.id in self._unrecorded:
                        records.log_delivery(logging.INFO, "sent, recorded late", delivery)
                    return
        except Exception as exc:
            records.log_delivery(logging.ERROR, "sent, but not recorded", delivery, error=str(exc))
        finally:
            self._unrecorded.discard(delivery.id)

    async def _failed(
        self, delivery: DeliveryRecord, detail: str, retry_after: float | None
    ) -> bool:
        attempts = len(delivery.attempts) + 1
        delay = self.policy.next_delay(attempts, retry_after)
        if self.policy.gives_up(attempts, time.time() - delivery.created_at, delay):
            await self._dead(delivery, detail)
            return True
        records.finish(delivery, "failed", detail)
        delivery.next_attempt_at = time.time() + delay
        await self._store(delivery)
        records.log_delivery(
            logging.WARNING,
            "delivery failed, will retry",
            delivery,
            attempt=attempts,
            retry_in_s=round(delay, 1),
            error=detail,
        )
        return False

    async def _dead(self, delivery: DeliveryRecord, detail: str) -> None:
        records.finish(delivery, "dead", detail)
        fallback = self._fallback_for(delivery)
        await self._store(delivery)
        records.log_delivery(
            logging.ERROR,
            "delivery dead",
            delivery,
            error=detail,
            fallback=fallback.receiver if fallback else None,
        )
        if fallback is not None:
            self._queued.add(fallback.id)
            await self.store.write(lambda tx: tx.insert_delivery(fallback, []))
            self._events[fallback.id] = self._events.get(delivery.id, [])
            self._enqueue(fallback, reserved=True)

    def _fallback_for(self, delivery: DeliveryRecord) -> DeliveryRecord | None:
        live = self._live(delivery.receiver)
        name = live.config.fallback_channel if live else None
        fallback_live = self._live(name) if name is not None else None
        if name is None or delivery.is_fallback or fallback_live is None:
            return None
        return records.for_fallback(delivery, name, fallback_live.type_name)

    def _delivered(self, delivery: DeliveryRecord, events: list[Event]) -> None:
        now = datetime.now(UTC)
        for event in events:
            SEND_LATENCY.observe((now - event.received_at).total_seconds())
        self._events.pop(delivery.id, None)
        records.log_delivery(logging.INFO, "delivered", delivery, is_fallback=delivery.is_fallback)

    async def _fold(self, backlog: list[DeliveryRecord]) -> DeliveryRecord:
        digest = records.fold(backlog)
        events = [e for d in backlog for e in self._events.pop(d.id, [])]
        if len(events) == len(digest.event_ids):
            self._events[digest.id] = events

        def write(tx: WriteTx) -> None:
            tx.insert_delivery(digest, [])
            for d in backlog:
                tx.save_delivery(d)

        self._queued.add(digest.id)  # the sender queues the digest itself
        await self.store.write(write)
        self._queued -= {d.id for d in backlog}
        log(
            logging.WARNING,
            "backlog folded into a digest",
            receiver=digest.receiver,
            delivery_id=digest.id,
            deliveries=len(backlog),
            events=len(digest.event_ids),
        )
        return digest

    # -- lifecycle --------------------------------------------------------------

    def configure(
        self,
        channels: Mapping[str, ChannelConfig],
        route_templates: Mapping[str, str | None],
        target_for: TargetFor | None = None,
        mentions: Mentioner | None = None,
    ) -> None:
        """Apply a loaded config: its channels, their budgets and concurrency, each
        route's template, the targets of work stored earlier (`target_for`: by event,
        route path and receiver) and whom each route @-s (`mentions`). Waiting and
        retrying deliveries use them from their next attempt."""
        self._use_channels(channels)
        self._route_templates = dict(route_templates)
        self._mentions = mentions
        if target_for is not None:
            self._target_for = target_for
        for receiver, sender in self._senders.items():
            live = self._live(receiver)
            if live is not None:
                sender.reconfigure(*live.rate, live.config.max_in_flight())

    def _use_channels(self, configs: Mapping[str, ChannelConfig]) -> None:
        """Swap in a config's channels; unchanged ones keep their instance."""
        self.channels, retired = self.channels.rebuilt(configs)
        for live in retired:
            # Deliveries routed before the reload still go out the way they were routed.
            if live.name not in configs:
                self._retired[live.name] = live
            closer = asyncio.create_task(self._close_later(live, RETIRED_GRACE))
            self._closers[closer] = live
            closer.add_done_callback(self._closers.pop)

    def _live(self, receiver: str) -> LiveChannel | None:
        return self.channels.get(receiver) or self._retired.get(receiver)

    async def _close_later(self, live: LiveChannel, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._retired.get(live.name) is live:
            del self._retired[live.name]
        await live.channel.aclose()

    def receivers(self) -> list[str]:
        """Every receiver this config knows: what the replicas share out."""
        return sorted({*self.channels.names(), *self._retired})

    async def retry(self, delivery_id: str) -> DeliveryRecord | None:
        delivery = await self.store.read(lambda tx: tx.get_delivery(delivery_id))
        if delivery is None or delivery.state != "dead":
            return delivery
        delivery.state = "pending"
        delivery.attempts.append({"at": records.now_iso(), "outcome": "retry", "detail": "by hand"})
        delivery.created_at = time.time()
        self._queued.add(delivery.id)
        await self.store.write(lambda tx: tx.save_delivery(delivery))
        self._enqueue(delivery, reserved=True)
        return delivery

    def queue_depth(self) -> int:
        return sum(len(s) for s in self._senders.values())

    def queue_depths(self) -> dict[str, int]:
        return {receiver: len(s) for receiver, s in self._senders.items()}

    def oldest_pending_age(self) -> float:
        oldest = [t for s in self._senders.values() if (t := s.oldest_created_at()) is not None]
        return time.time() - min(oldest) if oldest else 0.0

    async def close(self, grace: float) -> None:
        """Flush waiting groups, give senders `grace` seconds, then stop; rows keep the rest."""
        await self.escalator.stop()
        await self.grouper.flush_all()
        deadline = time.monotonic() + grace
        for sender in self._senders.values():
            await sender.drain(deadline)
        for sender in self._senders.values():
            await sender.stop()
        self._closing = True
        await self.recorded()
        for closer, live in list(self._closers.items()):
            closer.cancel()
            await live.channel.aclose()
        await self.channels.aclose()

    async def recorded(self) -> None:
        """Wait for the store writes started so far (sent rows, dropped dispatches)."""
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
