"""The live feed: the newest events, then every new one pushed over server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.api.deps import ApiAuth, Ctx
from app.ui.live import Broadcaster
from app.ui.templating import fragment, page

router = APIRouter(dependencies=[ApiAuth])

# Rows on first paint; older events are one click away in GET /api/events.
FEED_ROWS = 50
# Seconds between keep-alive comments, so proxies do not close an idle stream.
PING_SECONDS = 15


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui", response_class=HTMLResponse)
async def feed(request: Request, ctx: Ctx) -> HTMLResponse:
    events = await ctx.store.read(lambda tx: tx.list_events(limit=FEED_ROWS))
    return page(request, ctx, "feed.html", tab="feed", events=events)


@router.get("/ui/feed/stream")
async def feed_stream(ctx: Ctx) -> EventSourceResponse:
    return EventSourceResponse(_rows(ctx.live), ping=PING_SECONDS)


async def _rows(live: Broadcaster) -> AsyncIterator[ServerSentEvent]:
    async with live.subscribe() as subscription:
        # Sent once subscribed: from here on nothing published is missed, and the page
        # may say it is live.
        yield ServerSentEvent(event="signalbox-live", data="subscribed")
        while True:
            item = await subscription.get()
            # An unnamed message: the SSE extension swaps its HTML into the feed.
            yield ServerSentEvent(data=fragment("_event.html", item=item))
