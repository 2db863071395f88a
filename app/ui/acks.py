"""Acknowledging from the console: the page an acknowledgement link in a message opens,
and the Acknowledge button on the feed's firing and broken items.

The link page needs no login: its signed token lets the holder acknowledge that one
event and see it, nothing else. Opening it never acknowledges (chat apps' link-preview
bots open every URL they see): only its form's POST does, and cross-site POSTs are
refused like every other console form's (app/web/origin.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.context import AppContext
from app.oncall.acks import NotAcknowledgeable, acknowledge
from app.oncall.annotate import annotated_event
from app.oncall.tokens import BadToken
from app.ui.forms import read_form
from app.ui.templating import fragment, page
from app.web.deps import ApiAuth, Ctx

# No ApiAuth: the token is the credential (checked first in each handler).
links = APIRouter()
router = APIRouter(dependencies=[ApiAuth])

# Longest name and comment kept, as the API takes them.
MAX_BY = 200
MAX_COMMENT = 1000


@links.get("/ui/ack/{token}", response_class=HTMLResponse)
async def ack_page(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """The event and an Acknowledge form; acknowledges nothing."""
    return await _link_page(request, ctx, token)


@links.post("/ui/ack/{token}", response_class=HTMLResponse)
async def ack_by_link(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    form = await read_form(request, ctx)
    by = form.get("by", "")[:MAX_BY]
    return await _link_page(request, ctx, token, by, form.get("comment", "")[:MAX_COMMENT])


async def _link_page(
    request: Request, ctx: AppContext, token: str, by: str | None = None, comment: str = ""
) -> HTMLResponse:
    try:
        if ctx.bus.links is None:
            raise BadToken("acknowledgement links are not set up")
        event_id = ctx.bus.links.event_of(token)
    except BadToken as refused:
        return page(request, ctx, "ack.html", status_code=403, refused=str(refused))
    notice, status = None, 200
    if by == "":
        notice, status = "not acknowledged: say who you are", 400
    elif by:
        try:
            await acknowledge(ctx.store, ctx.bus, event_id, by, comment, "link")
        except NotAcknowledgeable as exc:
            notice, status = str(exc), 409
    found = await ctx.store.read(lambda tx: annotated_event(tx, event_id))
    return page(
        request,
        ctx,
        "ack.html",
        status_code=404 if found is None else status,
        item=found,
        event_id=event_id,
        notice=notice,
    )


@router.post("/ui/events/{event_id}/ack", response_class=HTMLResponse)
async def ack_from_feed(event_id: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """The feed's Acknowledge form; answers with the event's row, now showing who has it."""
    by = (await read_form(request, ctx)).get("by", "")[:MAX_BY]
    notice = "not acknowledged: say who you are" if not by else None
    try:
        if by:
            await acknowledge(ctx.store, ctx.bus, event_id, by, "", "console")
    except NotAcknowledgeable as exc:
        notice = f"not acknowledged: {exc}"
    found = await ctx.store.read(lambda tx: annotated_event(tx, event_id))
    if found is None:
        return HTMLResponse(fragment("_event_gone.html", event_id=event_id), status_code=404)
    return HTMLResponse(fragment("_event.html", item=found, notice=notice))
