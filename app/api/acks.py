"""POST /api/acks: someone owns an event's trouble now; its repeats and escalation stop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from app.oncall.acks import NotAcknowledgeable, acknowledge
from app.oncall.annotate import ack_json
from app.web.deps import ApiAuth, Ctx
from app.web.errors import ApiError

router = APIRouter(prefix="/api", dependencies=[ApiAuth])


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    comment: Annotated[str, StringConstraints(max_length=1000)] = ""


@router.post("/acks", response_model=None)
async def create_ack(request: AckRequest, ctx: Ctx) -> JSONResponse:
    """201 with the acknowledgement; 200 with the one already in force."""
    try:
        done = await acknowledge(
            ctx.store, ctx.bus, request.event_id, request.by, request.comment, "api"
        )
    except NotAcknowledgeable as exc:
        raise ApiError(404 if exc.missing else 409, "not acknowledgeable", str(exc)) from exc
    body: dict[str, Any] = {**ack_json(done.ack), "created": done.created, "told": list(done.told)}
    return JSONResponse(body, status_code=201 if done.created else 200)
