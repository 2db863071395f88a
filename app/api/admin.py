"""Operating the service: config state and reload, health, readiness, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import ApiAuth, Ctx
from app.api.errors import ApiError
from app.observe import refresh_scrape_gauges
from app.routing.config import RoutingConfig
from app.sources import SOURCE_MODULES
from app.sources.base import SourceAuth

router = APIRouter()


def config_state(ctx: Ctx) -> dict[str, Any]:
    return {
        **ctx.config.status(),
        "unauthenticated_sources": unauthenticated_sources(ctx.config.current),
    }


def unauthenticated_sources(config: RoutingConfig) -> list[str]:
    """Sources that accept posts from anyone: no secret or token configured."""
    return [
        name for name in SOURCE_MODULES if not config.sources.get(name, SourceAuth()).configured()
    ]


@router.get("/api/config", dependencies=[ApiAuth])
async def get_config(ctx: Ctx) -> dict[str, Any]:
    return config_state(ctx)


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
async def metrics(ctx: Ctx) -> Response:
    await refresh_scrape_gauges(ctx.bus, ctx.store)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
