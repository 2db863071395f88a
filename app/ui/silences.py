"""The Silences page: the silences by state, a form to make one (from an event, its
labels prefilled) with a live preview of the recent events it would quiet, and Expire."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.context import AppContext
from app.events import Event
from app.oncall.silences import (
    InvalidSilence,
    SilenceRequest,
    expired,
    new_silence,
    quoted,
    silence_json,
)
from app.routing.matchers import MatcherError, parse_matcher
from app.store import WriteTx
from app.store.oncall import SILENCE_STATES
from app.ui.forms import read_form
from app.ui.templating import fragment, page
from app.web.deps import ApiAuth, Ctx

router = APIRouter(dependencies=[ApiAuth])

# Recent events the preview judges, and silences listed.
PREVIEW_EVENTS = 200
LISTED = 200
# Labels that say what an event is rather than which one: not prefilled from an event.
NOT_IDENTITY = frozenset(
    {"status", "kind", "transition", "failure_streak", "actor", "commit", "run_id"}
)


@router.get("/ui/silences", response_class=HTMLResponse)
async def silences(
    request: Request, ctx: Ctx, state: str | None = None, event: str | None = None
) -> HTMLResponse:
    form: dict[str, str] = {"duration": "2h"}
    if event:
        found = await ctx.store.read(lambda tx: tx.events_by_ids([event]))
        if found:
            form |= {"matchers": "\n".join(prefilled(found[0])), "comment": found[0].title}
    return await _page(request, ctx, state, form)


def prefilled(event: Event) -> list[str]:
    """Matchers for an event's identifying labels: its alert, its pipeline and branch."""
    if event.kind == "pipeline":
        names = ["source", "project", "pipeline", "branch"]
    else:
        names = sorted(n for n in event.labels if n not in NOT_IDENTITY)
    return [f"{n}={quoted(event.labels[n])}" for n in names if event.labels.get(n)]


async def _page(
    request: Request,
    ctx: AppContext,
    state: str | None,
    form: dict[str, str],
    error: str | None = None,
) -> HTMLResponse:
    chosen = next((s for s in SILENCE_STATES if s == state), None)
    now = time.time()
    found = await ctx.store.read(lambda tx: tx.list_silences(state=chosen, now=now, limit=LISTED))
    return page(
        request,
        ctx,
        "silences.html",
        status_code=400 if error else 200,
        tab="silences",
        states=SILENCE_STATES,
        state=chosen,
        silences=[silence_json(s, now) for s in found],
        form=form,
        error=error,
    )


@router.post("/ui/silences", response_model=None)
async def create(request: Request, ctx: Ctx) -> Response:
    """The form's silence, as POST /api/silences makes it; back to the list."""
    form = await read_form(request, ctx)
    try:
        asked = SilenceRequest.model_validate(
            {
                "matchers": _lines(form.get("matchers", "")),
                "duration": form.get("duration") or None,
                "created_by": form.get("created_by", ""),
                "comment": form.get("comment", ""),
            }
        )
        silence = new_silence(asked)
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return await _page(request, ctx, None, form, message)
    except InvalidSilence as exc:
        return await _page(request, ctx, None, form, str(exc))
    await ctx.store.write(lambda tx: tx.save_silence(silence))
    return RedirectResponse("/ui/silences", status_code=303)


@router.post("/ui/silences/{silence_id}/expire", response_model=None)
async def expire(silence_id: str, ctx: Ctx) -> Response:
    now = time.time()

    def end(tx: WriteTx) -> None:
        found = tx.get_silence(silence_id)
        if found is not None and found.state(now) != "expired":
            tx.save_silence(expired(found, now))

    await ctx.store.write(end)
    return RedirectResponse("/ui/silences", status_code=303)


@router.get("/ui/silences/preview", response_class=HTMLResponse)
async def preview(ctx: Ctx, matchers: str = "") -> HTMLResponse:
    """Which recent events the matchers being typed match (nothing is saved)."""
    lines = _lines(matchers)
    try:
        parsed = [parse_matcher(m) for m in lines]
    except MatcherError as exc:
        return HTMLResponse(fragment("_silence_preview.html", error=str(exc), events=[]))
    events: list[dict[str, Any]] = []
    if parsed:
        recent = await ctx.store.read(lambda tx: tx.list_events(limit=PREVIEW_EVENTS))
        events = [e for e in recent if all(m.matches(e["labels"]) for m in parsed)]
    return HTMLResponse(
        fragment("_silence_preview.html", error=None, events=events, asked=bool(parsed))
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
