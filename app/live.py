"""In-process fan-out of stored events to the console's open live feeds.

Publishing costs a webhook nothing but an append: one broadcaster task (`run`) turns each
event into its feed row once, with the renderer the console hands it, and offers the same
bytes to every open feed. Each feed holds a bounded queue; a slow client loses its oldest
rows rather than holding memory or slowing anyone else: the feed is a view, the store is
the record, and a reload shows everything. Feeds are capped in all and per client
address, so open streams cannot multiply the cost of every webhook without bound.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from app.ingest import Accepted
from app.logs import log

# Rows one feed may have waiting; past this its oldest are dropped. Also the most rows
# rendered per published batch and the most batches waiting to be rendered: no feed
# could keep more than this many of them anyway.
QUEUE_SIZE = 100

# What a feed row shows: an event as GET /api/events gives it, with its "routing".
FeedItem = dict[str, Any]
# A feed item as the bytes every open feed is sent.
Render = Callable[[FeedItem], bytes]


class TooManyStreams(Exception):
    """A feed refused: `per_client` when that client holds its share, else all are taken."""

    def __init__(self, detail: str, per_client: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.per_client = per_client


class Subscription:
    """One open feed: a bounded queue that drops its oldest rows when full."""

    def __init__(self, owner: Broadcaster, client: str) -> None:
        self._owner = owner
        self.client = client
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=owner.queue_size)
        self.dropped = 0
        self._open = True

    def offer(self, row: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(row)

    async def get(self) -> bytes:
        return await self._queue.get()

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Give the feed's place back; idempotent."""
        if self._open:
            self._open = False
            self._owner._release(self)


class Broadcaster:
    """Publish from the event loop's thread; every open feed gets each row once rendered."""

    def __init__(
        self, max_streams: int = 100, max_per_client: int = 10, queue_size: int = QUEUE_SIZE
    ) -> None:
        self.max_streams = max_streams
        self.max_per_client = max_per_client
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._per_client: Counter[str] = Counter()
        self._backlog: deque[Accepted] = deque(maxlen=queue_size)
        self._wake = asyncio.Event()

    def subscribe(self, client: str) -> Subscription:
        """A new feed for `client` (its address); raises TooManyStreams past either cap.

        The caller must close() it when the feed ends.
        """
        if self._per_client[client] >= self.max_per_client:
            raise TooManyStreams(
                f"{client} already has {self.max_per_client} live feeds open "
                "(SIGNALBOX_LIVE_MAX_STREAMS_PER_CLIENT); close one",
                per_client=True,
            )
        if len(self._subscribers) >= self.max_streams:
            raise TooManyStreams(
                f"all {self.max_streams} live feeds are in use (SIGNALBOX_LIVE_MAX_STREAMS)",
                per_client=False,
            )
        subscription = Subscription(self, client)
        self._subscribers.add(subscription)
        self._per_client[client] += 1
        return subscription

    def _release(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        self._per_client[subscription.client] -= 1
        if self._per_client[subscription.client] <= 0:
            del self._per_client[subscription.client]

    def publish(self, accepted: Accepted) -> None:
        """Queue just-stored events for the open feeds; nothing at all when none is open."""
        if self._subscribers:
            self._backlog.append(accepted)
            self._wake.set()

    async def run(self, render: Render) -> None:
        """Render each published event once and offer it to every open feed, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._backlog:
                for item in feed_items(self._backlog.popleft(), self.queue_size):
                    if not self._subscribers:
                        break
                    try:
                        row = render(item)
                    except Exception:
                        # One row the template chokes on must not end every live feed.
                        log(
                            logging.ERROR,
                            "live feed row not rendered",
                            event_id=item.get("id"),
                            exc=traceback.format_exc(),
                        )
                        continue
                    for subscription in self._subscribers:
                        subscription.offer(row)
                # Webhooks waiting on the loop go between two batches.
                await asyncio.sleep(0)

    def subscribers(self) -> int:
        return len(self._subscribers)


def feed_items(accepted: Accepted, last: int) -> list[FeedItem]:
    """The feed's view of the `last` events of a batch: the same shape the store reads back."""
    pairs = list(zip(accepted.events, accepted.plans, strict=True))[-last:]
    return [
        {**event.model_dump(mode="json"), "routing": event_plan.decision}
        for event, event_plan in pairs
    ]
