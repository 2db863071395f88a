"""GET /api/deliveries and POST /api/deliveries/{id}/retry: what went out, what did not."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.store.base import DeliveryState
from app.web.deps import ApiAuth, Ctx
from app.web.errors import ApiError

router = APIRouter(prefix="/api", dependencies=[ApiAuth])


@router.get("/deliveries")
async def list_deliveries(
    ctx: Ctx,
    state: DeliveryState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = await ctx.store.read(lambda tx: tx.list_deliveries(limit=limit, state=state))
    return {"deliveries": [dataclasses.asdict(d) for d in found]}


@router.post("/deliveries/{delivery_id}/retry")
async def retry_delivery(delivery_id: str, ctx: Ctx) -> dict[str, Any]:
    delivery = await ctx.bus.retry(delivery_id)
    if delivery is None:
        raise ApiError(404, "no such delivery", delivery_id)
    if delivery.state != "pending":
        raise ApiError(409, "not dead", f"delivery {delivery_id} is {delivery.state}")
    return {"delivery": dataclasses.asdict(delivery)}
