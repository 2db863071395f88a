"""One sender per receiver: sends its deliveries in order, within the receiver's budget.

Order matters within a receiver (a fix must not arrive before its failure), so a
delivery waiting for its retry holds back the ones behind it. When more are waiting than
the budget lets out in one window, the waiting ones are folded into one digest that
counts them: a storm costs one message, and nothing is silently dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from app.bus.ratelimit import SlidingWindow
from app.logs import log
from app.store import DeliveryRecord

ERROR_PAUSE_SECONDS = 1.0

# attempt(delivery) -> True when the delivery is finished (sent, dead or skipped)
Attempt = Callable[[DeliveryRecord, SlidingWindow], Awaitable[bool]]
Fold = Callable[[list[DeliveryRecord]], Awaitable[DeliveryRecord]]


class Sender:
    def __init__(self, receiver: str, limiter: SlidingWindow, attempt: Attempt, fold: Fold) -> None:
        self.receiver = receiver
        self.limiter = limiter
        self._attempt = attempt
        self._fold = fold
        self._queue: deque[DeliveryRecord] = deque()
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def enqueue(self, delivery: DeliveryRecord) -> None:
        self._queue.append(delivery)
        self._wake.set()

    def oldest_created_at(self) -> float | None:
        return min((d.created_at for d in self._queue), default=None)

    async def run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            head = self._queue[0]
            wait = max(
                (head.next_attempt_at or 0.0) - time.time(),
                self.limiter.delay(),
            )
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))
                continue
            try:
                await self._fold_backlog()
                head = self._queue[0]
                finished = await self._attempt(head, self.limiter)
            except Exception as exc:
                # The store refused a write, or a bug: the delivery row is still open, so
                # keep it queued and try again rather than let this receiver go silent.
                log(
                    logging.ERROR,
                    "send loop error, will retry",
                    receiver=self.receiver,
                    error=str(exc),
                )
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            if finished:
                self._queue.popleft()

    async def _fold_backlog(self) -> None:
        fresh = [d for d in self._queue if not d.attempts and d.folded == 0]
        if len(fresh) <= max(1, self.limiter.limit):
            return
        digest = await self._fold(fresh)
        folded_ids = {d.id for d in fresh}
        # The digest takes the place of the first delivery it folds, keeping order.
        reordered: deque[DeliveryRecord] = deque()
        for d in self._queue:
            if d.id not in folded_ids:
                reordered.append(d)
            elif d.id == fresh[0].id:
                reordered.append(digest)
        self._queue = reordered
