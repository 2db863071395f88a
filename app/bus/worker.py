"""The bus: stages → groups → one sender per receiver → send, retry, dead, fallback.

Every step that matters is a store write before it is acted on: a dispatch is stored
with its event, a group flush becomes a delivery row in the same transaction that ends
its dispatches, and each attempt is recorded. A restart resumes from those rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from app.bus import records
from app.bus.channelset import ChannelSet, LiveChannel
from app.bus.grouping import Flushing, Group, Grouper
from app.bus.ratelimit import SlidingWindow
from app.bus.retry import RetryPolicy
from app.bus.sender import Sender
from app.bus.stages import (
    Dedup,
    Inhibit,
    InhibitCheck,
    OldNews,
    SendResolved,
    Stage,
    TimeMute,
    subject_of,
)
from app.bus.target import Dispatch, Target
from app.events import Event
from app.logs import log
from app.metrics import DISPATCHES_DROPPED, SEND_LATENCY
from app.store import DeliveryRecord, Store, StoreUnavailable, Suppression, WriteTx
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
# Alerts whose last news is remembered (for resolve_timeout), and for how long at most.
MAX_HEARD = 100_000
HEARD_TTL = 7 * 86400.0


class Bus:
    def __init__(
        self,
        store: Store,
        inhibit_check: Callable[[], InhibitCheck | None],
        policy: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()
        self.channels = ChannelSet()
        self.inhibit = Inhibit(inhibit_check)
        self.stages: list[Stage] = [OldNews(), SendResolved(), TimeMute(), self.inhibit, Dedup()]
        self.grouper = Grouper(self._flush, self._last_heard, self._stopped_repeating)
        # When each alert was last heard of (subject -> epoch seconds), dropped duplicates
        # included: Alertmanager repeating a firing alert is fresh news that it still fires.
        self._heard: OrderedDict[str, float] = OrderedDict()
        self._senders: dict[str, Sender] = {}
        self._events: dict[str, list[Event]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._retired: dict[str, LiveChannel] = {}
        # Route path -> its template source in the config in force (see configure).
        self._route_templates: dict[str, str | None] = {}
        self._closers: dict[asyncio.Task[None], LiveChannel] = {}

    # -- intake -----------------------------------------------------------------

    def submit(self, event: Event, targets: Iterable[Target]) -> None:
        """Hand a stored event's (route, receiver) targets to the stages and groups."""
        now = time.time()
        self.inhibit.observe(event, now)
        if event.kind == "alert":
            self._hear(event, now)
        dropped: list[Suppression] = []
        for target in targets:
            dispatch = Dispatch(event, target)
            stage, reason = next(
                ((s.name, r) for s in self.stages if (r := s(dispatch, now))), ("", None)
            )
            if reason is None:
                self.grouper.add(dispatch)
                continue
            dropped.append(Suppression(event.id, target.route, target.receiver, stage, reason))
        if dropped:
            self._suppress(dropped, "delivery not needed")

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
        self._spawn(self.store.write(lambda tx: tx.suppress(suppressed)))

    def _hear(self, event: Event, now: float) -> None:
        subject = subject_of(event)
        self._heard[subject] = now
        self._heard.move_to_end(subject)
        while len(self._heard) > MAX_HEARD or next(iter(self._heard.values())) < now - HEARD_TTL:
            self._heard.popitem(last=False)

    def _last_heard(self, event: Event) -> float:
        return self._heard.get(subject_of(event), event.received_at.timestamp())

    def _stopped_repeating(self, group: Group, stale: list[tuple[Event, str]]) -> None:
        target = group.target
        suppressed = [
            Suppression(event.id, target.route, target.receiver, "stale", why)
            for event, why in stale
        ]
        self._suppress(suppressed, "alert gone stale")

    async def _flush(self, batch: list[Flushing]) -> None:
        """Turn group flushes into delivery rows (one write) and hand them to senders."""
        made = [(self._delivery_for(f), f) for f in batch if f.events]

        def write(tx: WriteTx) -> None:
            for delivery, flushing in made:
                tx.insert_delivery(delivery, flushing.dispatched)

        await self.store.write(write)
        for delivery, flushing in made:
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
                self._sender(delivery.receiver).enqueue(delivery)

    def _delivery_for(self, flushing: Flushing) -> DeliveryRecord:
        live = self._live(flushing.group.target.receiver)
        delivery = records.for_flush(flushing, live.type_name if live else "unknown")
        if live is not None and not live.config.enabled():
            records.finish(delivery, "skipped", "channel disabled: its URL or key is not set")
        return delivery

    # -- sending ----------------------------------------------------------------

    def _sender(self, receiver: str) -> Sender:
        sender = self._senders.get(receiver)
        if sender is None:
            live = self._live(receiver)
            limit, window = live.rate if live else (1, 1.0)
            concurrency = live.config.max_in_flight() if live else 1
            sender = Sender(
                receiver, SlidingWindow(limit, window), self._attempt, self._fold, concurrency
            )
            sender.task = asyncio.create_task(sender.run(), name=f"sender {receiver}")
            self._senders[receiver] = sender
        return sender

    async def _attempt(self, delivery: DeliveryRecord, limiter: SlidingWindow) -> bool:
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
        )
        try:
            result = await self._tell(live, delivery, notification, limiter)
        except TransientError as exc:
            if exc.retry_after:
                limiter.pause(exc.retry_after)
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
                    limiter.release()
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

    async def _record_sent(self, delivery: DeliveryRecord) -> None:
        try:
            await self.store.write(lambda tx: tx.save_delivery(delivery))
        except StoreUnavailable as exc:
            records.log_delivery(logging.ERROR, "sent, but not recorded", delivery, error=str(exc))

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
        await self.store.write(lambda tx: tx.save_delivery(delivery))
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
        await self.store.write(lambda tx: tx.save_delivery(delivery))
        records.log_delivery(
            logging.ERROR,
            "delivery dead",
            delivery,
            error=detail,
            fallback=fallback.receiver if fallback else None,
        )
        if fallback is not None:
            await self.store.write(lambda tx: tx.insert_delivery(fallback, []))
            self._events[fallback.id] = self._events.get(delivery.id, [])
            self._sender(fallback.receiver).enqueue(fallback)

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

        await self.store.write(write)
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
        self, channels: Mapping[str, ChannelConfig], route_templates: Mapping[str, str | None]
    ) -> None:
        """Apply a loaded config: its channels, their budgets and concurrency, and each
        route's template. Waiting and retrying deliveries use them from their next attempt."""
        self._use_channels(channels)
        self._route_templates = dict(route_templates)
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

    async def resume(self, target_for: Callable[[Event, str, str], Target]) -> int:
        """Re-queue what a previous process left: open deliveries and open dispatches."""
        deliveries = await self.store.read(lambda tx: tx.open_deliveries())
        for delivery in deliveries:
            self._sender(delivery.receiver).enqueue(delivery)
        dispatches = await self.store.read(lambda tx: tx.open_dispatches())
        ids = list(dict.fromkeys(e for e, _, _ in dispatches))
        events = {e.id: e for e in await self.store.read(lambda tx: tx.events_by_ids(ids))}
        for event_id, route, receiver in dispatches:
            event = events.get(event_id)
            if event is not None:
                self.submit(event, [target_for(event, route, receiver)])
        return len(deliveries) + len(dispatches)

    async def retry(self, delivery_id: str) -> DeliveryRecord | None:
        delivery = await self.store.read(lambda tx: tx.get_delivery(delivery_id))
        if delivery is None or delivery.state != "dead":
            return delivery
        delivery.state = "pending"
        delivery.attempts.append({"at": records.now_iso(), "outcome": "retry", "detail": "by hand"})
        delivery.created_at = time.time()
        await self.store.write(lambda tx: tx.save_delivery(delivery))
        self._sender(delivery.receiver).enqueue(delivery)
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
        await self.grouper.flush_all()
        deadline = time.monotonic() + grace
        for sender in self._senders.values():
            await sender.drain(deadline)
        for sender in self._senders.values():
            await sender.stop()
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
