"""Operating the service: config state and reload, health, readiness, metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.config_state import config_state
from app.observe import refresh_scrape_gauges
from app.pollers.status import poll_status
from app.web.deps import ApiAuth, Ctx, require_api_token
from app.web.errors import ApiError

router = APIRouter()


@router.get("/api/config", dependencies=[ApiAuth])
async def get_config(ctx: Ctx) -> dict[str, Any]:
    polls = await poll_status(ctx.store, ctx.config_in_force(), time.time())
    return {**config_state(ctx), "polls": polls}


@router.post("/-/reload", dependencies=[ApiAuth])
async def reload_config(ctx: Ctx) -> dict[str, Any]:
    result = await asyncio.to_thread(ctx.config.reload)
    if not result.ok:
        raise ApiError(400, "invalid routes.yaml", result.error or "")
    return config_state(ctx)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(ctx: Ctx) -> JSONResponse:
    checks = {"store_writable": await ctx.store.writable(), "config_loaded": True}
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request, ctx: Ctx) -> Response:
    # Open by default so Prometheus scrapes without credentials; the series name
    # projects, pipelines and branches, so SIGNALBOX_METRICS_REQUIRE_TOKEN can close it.
    if ctx.settings.metrics_require_token:
        await require_api_token(request, ctx)
    await refresh_scrape_gauges(ctx.bus, ctx.store)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
