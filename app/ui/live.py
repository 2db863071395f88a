"""In-process fan-out of stored events to the console's open live feeds.

The hooks endpoint publishes after an event is committed; each open feed holds one
bounded queue. A slow client loses its oldest items rather than holding memory or
blocking the webhook that published: the feed is a view, the store is the record, and a
reload shows everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from app.ingest import Accepted

# Items one subscriber may have waiting; past this its oldest are dropped.
QUEUE_SIZE = 100

# What a feed row shows: an event as GET /api/events gives it, with its "routing".
FeedItem = dict[str, Any]


class Subscription:
    """One open feed: a bounded queue that drops its oldest items when full."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def offer(self, item: FeedItem) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    async def get(self) -> FeedItem:
        return await self._queue.get()

    def pending(self) -> int:
        return self._queue.qsize()


class Broadcaster:
    """Publish from the event loop's thread; every current subscriber gets a copy."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription(self.queue_size)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def publish(self, items: Iterable[FeedItem]) -> None:
        for item in items:
            for subscription in self._subscribers:
                subscription.offer(item)

    def subscribers(self) -> int:
        return len(self._subscribers)


def feed_items(accepted: Accepted) -> list[FeedItem]:
    """The feed's view of just-stored events: the same shape the store reads back."""
    return [
        {**event.model_dump(mode="json"), "routing": event_plan.decision}
        for event, event_plan in zip(accepted.events, accepted.plans, strict=True)
    ]
