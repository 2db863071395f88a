"""POST/GET /api/silences and DELETE /api/silences/{id}: quieting what matches, for a while."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from app.oncall.silences import (
    InvalidSilence,
    SilenceRequest,
    expired,
    new_silence,
    silence_json,
)
from app.store import WriteTx
from app.store.oncall import SilenceState
from app.web.deps import ApiAuth, Ctx
from app.web.errors import ApiError

router = APIRouter(prefix="/api", dependencies=[ApiAuth])


@router.post("/silences", status_code=201)
async def create_silence(request: SilenceRequest, ctx: Ctx) -> dict[str, Any]:
    try:
        silence = new_silence(request)
    except InvalidSilence as exc:
        raise ApiError(400, "invalid silence", str(exc)) from exc
    await ctx.store.write(lambda tx: tx.save_silence(silence))
    return {"id": silence.id}


@router.get("/silences")
async def list_silences(
    ctx: Ctx,
    state: SilenceState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    now = time.time()
    found = await ctx.store.read(lambda tx: tx.list_silences(state=state, now=now, limit=limit))
    return {"silences": [silence_json(s, now) for s in found]}


@router.get("/silences/{silence_id}")
async def get_silence(silence_id: str, ctx: Ctx) -> dict[str, Any]:
    found = await ctx.store.read(lambda tx: tx.get_silence(silence_id))
    if found is None:
        raise ApiError(404, "no such silence", silence_id)
    return {"silence": silence_json(found)}


@router.delete("/silences/{silence_id}", response_model=None)
async def expire_silence(silence_id: str, ctx: Ctx) -> JSONResponse:
    now = time.time()

    def expire(tx: WriteTx) -> dict[str, Any] | None:
        found = tx.get_silence(silence_id)
        if found is None:
            return None
        if found.state(now) != "expired":
            found = expired(found, now)
            tx.save_silence(found)
        return silence_json(found, now)

    shown = await ctx.store.write(expire)
    if shown is None:
        raise ApiError(404, "no such silence", silence_id)
    return JSONResponse({"silence": shown})
