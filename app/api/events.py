"""GET /api/events: what came in, newest first, with where it was routed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.events import Source, Status
from app.oncall.annotate import annotate
from app.web.deps import ApiAuth, Ctx

router = APIRouter(prefix="/api", dependencies=[ApiAuth])


@router.get("/events")
async def list_events(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    source: Source | None = None,
    status: Status | None = None,
) -> dict[str, Any]:
    events = await ctx.store.read(
        lambda tx: annotate(tx, tx.list_events(limit=limit, source=source, status=status))
    )
    return {"events": events}
