"""The live feed: the newest events, then every new one pushed over server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from app.live import FeedItem, Subscription, TooManyStreams
from app.oncall.annotate import annotate, annotated_event
from app.ui.templating import fragment, page
from app.web.deps import ApiAuth, Ctx
from app.web.errors import ApiError

router = APIRouter(dependencies=[ApiAuth])

# Rows on first paint; older events are one click away in GET /api/events.
FEED_ROWS = 50
# Seconds between keep-alive comments, so proxies do not close an idle stream.
PING_SECONDS = 15
# Seconds a refused feed is told to wait before asking again.
RETRY_AFTER = 30


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui", response_class=HTMLResponse)
async def feed(request: Request, ctx: Ctx) -> HTMLResponse:
    events = await ctx.store.read(lambda tx: annotate(tx, tx.list_events(limit=FEED_ROWS)))
    return page(request, ctx, "feed.html", tab="feed", events=events)


@router.get("/ui/events/{event_id}/row", response_class=HTMLResponse)
async def event_row(event_id: str, ctx: Ctx) -> HTMLResponse:
    """One feed row again, with what came of it per receiver: rows still settling (sends
    under way, groups waiting) poll this until they settle."""
    found = await ctx.store.read(lambda tx: annotated_event(tx, event_id))
    if found is None:
        return HTMLResponse(fragment("_event_gone.html", event_id=event_id), status_code=404)
    return HTMLResponse(fragment("_event.html", item=found))


@router.get("/ui/feed/stream", response_model=None)
async def feed_stream(request: Request, ctx: Ctx) -> Response:
    """One open feed; 429 past the client's share of feeds, 503 when all are taken."""
    client = request.client.host if request.client else "unknown"
    try:
        subscription = ctx.live.subscribe(client)
    except TooManyStreams as refused:
        return _refusal(request, refused)
    return LiveStream(subscription)


def feed_row(item: FeedItem) -> bytes:
    """An event's feed row as the SSE message every open feed is sent (app/live.py).

    Unnamed: the SSE extension swaps its HTML into the feed.
    """
    return ServerSentEvent(data=fragment("_event.html", item=item)).encode()


class LiveStream(EventSourceResponse):
    """The stream of one subscription, which it gives back however the stream ends."""

    def __init__(self, subscription: Subscription) -> None:
        super().__init__(_rows(subscription), ping=PING_SECONDS)
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._subscription.close()


async def _rows(subscription: Subscription) -> AsyncIterator[ServerSentEvent | bytes]:
    # Sent first: from here on nothing published is missed, and the page may say it is live.
    yield ServerSentEvent(event="signalbox-live", data="subscribed")
    while True:
        yield await subscription.take()


def _refusal(request: Request, refused: TooManyStreams) -> Response:
    status = 429 if refused.per_client else 503
    headers = {"Retry-After": str(RETRY_AFTER)}
    if request.headers.get("hx-request"):
        # The feed page's first connection: htmx puts the answer at the top of the feed.
        notice = fragment("_live_refused.html", detail=refused.detail)
        return HTMLResponse(notice, status_code=status, headers=headers)
    return ApiError(status, "too many live feeds", refused.detail, headers).response()
