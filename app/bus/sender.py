"""One sender per receiver: several sends at once, in order per subject, within budget.

Order matters per subject — a pipeline's fix must not arrive before its failure, a
group's flushes go out in turn — so deliveries sharing an order key are sent one after
another, and one waiting for its retry holds back only its own subject. Different
subjects go out concurrently, up to the channel's `concurrency`.

When more deliveries are waiting than the budget lets out in one window, the waiting
ones are folded into one digest that counts them: a storm costs one message, and
nothing is silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from app.bus.ratelimit import SlidingWindow
from app.logs import log
from app.store import DeliveryRecord

ERROR_PAUSE_SECONDS = 1.0
DIGEST_KEY = "digest"

# attempt(delivery) -> True when the delivery is finished (sent, dead or skipped)
Attempt = Callable[[DeliveryRecord, SlidingWindow], Awaitable[bool]]
Fold = Callable[[list[DeliveryRecord]], Awaitable[DeliveryRecord]]


def _newest(delivery: DeliveryRecord) -> str:
    return max(delivery.event_ids, default="")


def _fresh(delivery: DeliveryRecord) -> bool:
    """Never tried and not itself a digest: what a backlog may fold."""
    return not delivery.attempts and delivery.order_key != DIGEST_KEY


class Sender:
    def __init__(
        self,
        receiver: str,
        limiter: SlidingWindow,
        attempt: Attempt,
        fold: Fold,
        concurrency: int = 1,
        error_pause: float = ERROR_PAUSE_SECONDS,
    ) -> None:
        self.receiver = receiver
        self.error_pause = error_pause
        self.limiter = limiter
        self.concurrency = concurrency
        self._attempt = attempt
        self._fold = fold
        # Waiting deliveries per order key; the head of each is the next to go.
        self._by_key: dict[str, deque[DeliveryRecord]] = {}
        # Keys whose head may start now (stale entries are skipped), (due time, key) of
        # heads waiting to retry, and keys whose head is being sent.
        self._ready: deque[str] = deque()
        self._sleeping: list[tuple[float, str]] = []
        self._busy: set[str] = set()
        # Waiting deliveries never tried, not counting heads being sent: kept as a count
        # because the run loop asks for it at every turn. And that count when folding last
        # found nothing to fold (all behind one subject's send), so it is not rescanned
        # until it grows. tests/test_sender.py checks these against the queues.
        self._fresh = 0
        self._unfoldable = 0
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Deliveries waiting or being sent."""
        return sum(len(queue) for queue in self._by_key.values())

    @property
    def _in_flight(self) -> int:
        return len(self._busy)

    def enqueue(self, delivery: DeliveryRecord) -> None:
        key = delivery.order_key or delivery.group_key
        queue = self._by_key.get(key)
        if queue is None:
            queue = self._by_key[key] = deque()
        # In the order its events were accepted (ids start with the time), whatever order
        # the deliveries were made in: after a takeover a subject's earlier event can
        # become a delivery after its later one. The head being sent stays first.
        at = len(queue)
        first_free = 1 if key in self._busy else 0
        while at > first_free and _newest(queue[at - 1]) > _newest(delivery):
            at -= 1
        queue.insert(at, delivery)
        self._fresh += _fresh(delivery)
        if len(queue) == 1 and key not in self._busy:
            self._schedule(key, delivery)
        self._wake.set()

    def reconfigure(self, limit: int, window: float, concurrency: int) -> None:
        """New budget and concurrency from a reload; the sends already counted still count."""
        self.limiter.limit, self.limiter.window = limit, window
        self.concurrency = concurrency
        self._wake.set()

    def delivery_ids(self) -> set[str]:
        """Every delivery waiting here or being sent."""
        return {d.id for queue in self._by_key.values() for d in queue}

    def oldest_created_at(self) -> float | None:
        return min(
            (q[0].created_at for q in self._by_key.values() if q),
            default=None,
        )

    def _schedule(self, key: str, head: DeliveryRecord) -> None:
        due = head.next_attempt_at or 0.0
        if due > time.time():
            heapq.heappush(self._sleeping, (due, key))
        else:
            self._ready.append(key)

    async def run(self) -> None:
        while True:
            now = time.time()
            while self._sleeping and self._sleeping[0][0] <= now:
                self._ready.append(heapq.heappop(self._sleeping)[1])
            if self._fresh > max(1, self.limiter.limit, self._unfoldable):
                await self._fold_backlog()
            started = self._start_ready()
            if started:
                continue
            timeout = self._sleeping[0][0] - now if self._sleeping else None
            if self._ready and self._in_flight < self.concurrency:
                # Only the budget holds the ready ones back.
                timeout = min(timeout or 1.0, max(self.limiter.delay(), 0.001))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _start_ready(self) -> bool:
        started = False
        while self._ready and self._in_flight < self.concurrency and self.limiter.delay() == 0:
            key = self._ready.popleft()
            queue = self._by_key.get(key)
            if not queue or key in self._busy:
                continue  # folded away, or already started from a stale entry
            head = queue[0]
            self._busy.add(key)
            self._fresh -= _fresh(head)
            task = asyncio.create_task(self._send(key, head))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            started = True
        return started

    async def _send(self, key: str, delivery: DeliveryRecord) -> None:
        try:
            finished = await self._attempt(delivery, self.limiter)
        except Exception as exc:
            # The store refused a write, or a bug: the delivery row is still open, so
            # keep it queued and try again rather than let this receiver go silent.
            log(logging.ERROR, "send error, will retry", receiver=self.receiver, error=str(exc))
            delivery.next_attempt_at = time.time() + self.error_pause
            finished = False
        self._busy.discard(key)
        queue = self._by_key[key]
        if finished:
            queue.popleft()
        else:
            # Back to waiting: never tried still, if the error came before any attempt.
            self._fresh += _fresh(delivery)
        if queue:
            self._schedule(key, queue[0])
        else:
            del self._by_key[key]
        self._wake.set()

    async def _fold_backlog(self) -> None:
        backlog = [d for key, queue in self._by_key.items() if key not in self._busy for d in queue]
        backlog = [d for d in backlog if _fresh(d)]
        if len(backlog) <= 1:
            self._unfoldable = self._fresh
            return
        backlog.sort(key=lambda d: d.id)
        digest = await self._fold(backlog)
        folded = {d.id for d in backlog}
        for key in list(self._by_key):
            queue = self._by_key[key]
            kept = deque(d for d in queue if d.id not in folded)
            if kept:
                self._by_key[key] = kept
            else:
                del self._by_key[key]
        # Deliveries may have arrived while the digest was written: count only the folded.
        self._fresh -= len(backlog)
        self._unfoldable = 0
        # Heads changed: rebuild who is ready from what is left.
        self._ready, self._sleeping = deque(), []
        for key, queue in self._by_key.items():
            if key not in self._busy:
                self._schedule(key, queue[0])
        digest.order_key = DIGEST_KEY
        self.enqueue(digest)

    def start(self) -> None:
        """Begin sending (once)."""
        if self.task is None:
            self.task = asyncio.create_task(self.run(), name=f"sender {self.receiver}")

    async def drain(self, deadline: float) -> None:
        """Wait until nothing is waiting or in flight, or until `deadline` (monotonic)."""
        while len(self):
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.05)

    async def quiesce(self) -> None:
        """Start no more sends, and wait for the ones under way to end (a handover to
        another replica must not cut a request off and have it sent again)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self._running:
            await asyncio.wait(list(self._running))

    async def stop(self) -> None:
        for task in [self.task, *self._running]:
            if task is not None:
                task.cancel()
        for task in [self.task, *self._running]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
