"""In-process fan-out of stored events to the console's open live feeds.

Publishing costs a webhook nothing but an append. One broadcaster task (`run`) works in
passes at most PASS_SECONDS apart: it renders the events published since the last pass
once each, with the renderer the console hands it, and offers the same bytes to every open
feed, which sends all it has in one write. So however fast events come, an open feed costs
at most one write per pass, and rendering at most ROWS_PER_PASS rows per pass: in a storm
the feed shows the newest rows of each pass and skips the rest. Each feed holds a bounded
queue; a slow client loses its oldest rows rather than holding memory or slowing anyone.
The feed is a view, the store is the record, and a reload shows everything. Feeds are
capped in all and per client address.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from app.bus.plan import Plan
from app.events import Event
from app.ingest import Accepted
from app.logs import log

# Rows one feed may have waiting; past this its oldest are dropped.
QUEUE_SIZE = 100
# Seconds between two passes of the broadcaster: a feed updates within this of an event.
PASS_SECONDS = 0.1
# Most rows rendered per pass, the newest: at most 10 passes a second, 200 renders.
ROWS_PER_PASS = 20

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
    """One open feed: a bounded queue of rows that drops its oldest when full."""

    def __init__(self, owner: Broadcaster, client: str) -> None:
        self._owner = owner
        self.client = client
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0
        self._open = True

    def offer(self, row: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(row)

    async def take(self) -> bytes:
        """Every row waiting, as one chunk; waits for one when there is none."""
        rows = [await self._queue.get()]
        while not self._queue.empty():
            rows.append(self._queue.get_nowait())
        return b"".join(rows)

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Give the feed's place back; idempotent."""
        if self._open:
            self._open = False
            self._owner._release(self)


class Broadcaster:
    """Publish from the event loop's thread; every open feed gets each rendered row."""

    def __init__(self, max_streams: int = 100, max_per_client: int = 10) -> None:
        self.max_streams = max_streams
        self.max_per_client = max_per_client
        self._subscribers: set[Subscription] = set()
        self._per_client: Counter[str] = Counter()
        # Published since the last pass; only the newest are ever rendered.
        self._pending: deque[tuple[Event, Plan]] = deque(maxlen=ROWS_PER_PASS)
        self.skipped = 0
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
        if not self._subscribers:
            return
        pairs = list(zip(accepted.events, accepted.plans, strict=True))
        self.skipped += max(0, len(self._pending) + len(pairs) - ROWS_PER_PASS)
        self._pending.extend(pairs)
        self._wake.set()

    async def run(self, render: Render) -> None:
        """Pass after pass until cancelled: render what was published, offer it to all."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            rendered = (self._rendered(pair, render) for pair in self._drain())
            rows = [row for row in rendered if row is not None]
            for subscription in self._subscribers:
                for row in rows:
                    subscription.offer(row)
            await asyncio.sleep(PASS_SECONDS)

    def _drain(self) -> list[tuple[Event, Plan]]:
        pairs = list(self._pending)
        self._pending.clear()
        return pairs if self._subscribers else []

    @staticmethod
    def _rendered(pair: tuple[Event, Plan], render: Render) -> bytes | None:
        event, event_plan = pair
        try:
            return render(feed_item(event, event_plan))
        except Exception:
            # One row the template chokes on must not end every live feed.
            log(
                logging.ERROR,
                "live feed row not rendered",
                event_id=event.id,
                exc=traceback.format_exc(),
            )
            return None

    def subscribers(self) -> int:
        return len(self._subscribers)


def feed_item(event: Event, event_plan: Plan) -> FeedItem:
    """The feed's view of a just-stored event: the same shape the store reads back."""
    return {**event.model_dump(mode="json"), "routing": event_plan.decision}
