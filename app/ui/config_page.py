"""The config page: what routes.yaml is in force, and a route tester over the same code as
`signalbox route-test`. Shows hashes, names and types, never a secret value."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.config_state import config_state
from app.oncall.book import silenced_now
from app.pollers.status import poll_status
from app.routetest import CannotRoute, RouteTest, parse_pairs, route_payload
from app.sources import source_keys
from app.ui.templating import page, templates
from app.web.body import read_limited
from app.web.deps import ApiAuth, Ctx

router = APIRouter(dependencies=[ApiAuth])


@router.get("/ui/config", response_class=HTMLResponse)
async def config(request: Request, ctx: Ctx) -> HTMLResponse:
    polls = await poll_status(ctx.store, ctx.config_in_force(), time.time())
    return _page(request, ctx, 200, form={"source": "github"}, polls=polls)


@router.post("/ui/config/route-test", response_class=HTMLResponse)
async def route_test(request: Request, ctx: Ctx) -> HTMLResponse:
    """Answer the tester's form: the result alone for htmx, the whole page without script."""
    body = await read_limited(request, ctx.settings.max_body_bytes)
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    # Parsing and routing a pasted payload is CPU work of any size: off the event loop.
    result, error = await asyncio.to_thread(_run, ctx, form)
    # Input the tester cannot route is the caller's to fix: 400, saying why.
    status = 200 if error is None else 400
    # The silences in force now: an event they match would be routed, and told nobody.
    labels = [e.labels for e in result.events] if result else []
    silenced = await ctx.store.read(lambda tx: silenced_now(tx, labels)) if labels else []
    shown = {"result": result, "error": error, "silenced": silenced}
    if request.headers.get("hx-request"):
        return templates.TemplateResponse(request, "_route_result.html", shown, status_code=status)
    polls = await poll_status(ctx.store, ctx.config_in_force(), time.time())
    return _page(request, ctx, status, form=form, polls=polls, **shown)


def _run(ctx: Ctx, form: dict[str, str]) -> tuple[RouteTest | None, str | None]:
    try:
        headers = parse_pairs(_lines(form.get("headers", "")), "header")
        labels = parse_pairs(_lines(form.get("labels", "")), "label")
        result = route_payload(
            ctx.config_in_force(),
            form.get("source", ""),
            form.get("payload", ""),
            headers,
            labels,
            datetime.now(UTC),
        )
    except (ValueError, CannotRoute) as exc:
        return None, str(exc)
    return result, None


def _lines(text: str) -> list[str]:
    """One K=V (or `K: V`, as headers are usually copied) per line; blank lines skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if "=" not in line and ":" in line:
            key, _, value = line.partition(":")
            line = f"{key.strip()}={value.strip()}"
        out.append(line)
    return out


def _page(request: Request, ctx: Ctx, status: int, **context: Any) -> HTMLResponse:
    return page(
        request,
        ctx,
        "config.html",
        status_code=status,
        tab="config",
        state=config_state(ctx),
        routes=ctx.config.current.routes(),
        sources=source_keys(ctx.config.current.sources),
        **context,
    )
