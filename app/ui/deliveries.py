"""Deliveries by state; a dead one shows every attempt and can be retried in place."""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.context import AppContext
from app.store import DeliveryRecord
from app.store.base import DeliveryState
from app.ui.templating import page, templates
from app.web.deps import ApiAuth, Ctx

router = APIRouter(dependencies=[ApiAuth])

STATES: tuple[str, ...] = get_args(DeliveryState)
LIMIT = 100


@router.get("/ui/deliveries", response_class=HTMLResponse)
async def deliveries(request: Request, ctx: Ctx, state: str | None = None) -> HTMLResponse:
    chosen = state if state in STATES else None
    found = await ctx.store.read(lambda tx: tx.list_deliveries(limit=LIMIT, state=chosen))
    return _page(request, ctx, found, state=chosen)


@router.get("/ui/deliveries/{delivery_id}", response_class=HTMLResponse)
async def one_delivery(delivery_id: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """One delivery on a page of its own: where an event's story links to."""
    delivery = await ctx.store.read(lambda tx: tx.get_delivery(delivery_id))
    return _page(request, ctx, [delivery] if delivery is not None else [], one=delivery_id)


def _page(
    request: Request,
    ctx: AppContext,
    found: list[DeliveryRecord],
    state: str | None = None,
    one: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        ctx,
        "deliveries.html",
        tab="deliveries",
        states=STATES,
        state=state,
        deliveries=found,
        one=one,
    )


@router.get("/ui/deliveries/{delivery_id}/row", response_class=HTMLResponse)
async def delivery_row(delivery_id: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """One row again: rows still in flight poll this until they settle."""
    delivery = await ctx.store.read(lambda tx: tx.get_delivery(delivery_id))
    return _row(request, delivery_id, delivery)


@router.post("/ui/deliveries/{delivery_id}/retry", response_class=HTMLResponse)
async def retry(delivery_id: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """The same retry as POST /api/deliveries/{id}/retry, answered with the row to swap in."""
    delivery = await ctx.bus.retry(delivery_id)
    notice = None
    if delivery is not None and delivery.state != "pending":
        notice = f"not retried: it is {delivery.state}, only dead deliveries are"
    return _row(request, delivery_id, delivery, notice)


def _row(
    request: Request,
    delivery_id: str,
    delivery: DeliveryRecord | None,
    notice: str | None = None,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "_delivery.html",
        {"d": delivery, "delivery_id": delivery_id, "notice": notice},
        status_code=404 if delivery is None else 200,
    )
