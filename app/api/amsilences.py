"""Alertmanager's v2 silence endpoints, so amtool and Grafana manage Signalbox silences.

The shapes of Alertmanager's OpenAPI spec (api/v2/openapi.yaml: postableSilence,
gettableSilence, matcher): `GET /api/v2/silences`, `POST /api/v2/silences` →
`{"silenceID"}`, `GET`/`DELETE /api/v2/silence/{id}`. Matchers are {name, value,
isRegex, isEqual}; Signalbox's numeric matchers (`>`, `>=`, …) have no such form, so a
silence using one is left out of these listings (it is in /api/silences).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.oncall.silences import (
    MAX_MATCHERS,
    InvalidSilence,
    SilenceRequest,
    expired,
    iso,
    new_silence,
    quoted,
)
from app.routing.matchers import MatcherError, parse_matcher
from app.store import WriteTx
from app.store.oncall import Silence
from app.web.deps import ApiAuth, Ctx
from app.web.errors import ApiError

router = APIRouter(prefix="/api/v2", dependencies=[ApiAuth])

_OPS = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
_FIELDS = {op: (regex, equal) for (regex, equal), op in _OPS.items()}


class AmMatcher(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    value: Annotated[str, StringConstraints(max_length=1000)]
    is_regex: bool = Field(alias="isRegex")
    is_equal: bool = Field(default=True, alias="isEqual")

    def text(self) -> str:
        return f"{self.name}{_OPS[(self.is_regex, self.is_equal)]}{quoted(self.value)}"


class PostableSilence(BaseModel):
    """Alertmanager's postableSilence (extra fields, e.g. Grafana's, are ignored)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str | None = None
    matchers: list[AmMatcher] = Field(min_length=1, max_length=MAX_MATCHERS)
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime = Field(alias="endsAt")
    created_by: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        alias="createdBy"
    )
    comment: Annotated[str, StringConstraints(max_length=1000)] = ""


@router.post("/silences")
async def post_silence(posted: PostableSilence, ctx: Ctx) -> dict[str, str]:
    """Create a silence, or replace the one `id` names (as Alertmanager updates one)."""
    now = time.time()
    asked = SilenceRequest(
        matchers=[m.text() for m in posted.matchers],
        starts_at=max(posted.starts_at, datetime.fromtimestamp(now, posted.starts_at.tzinfo)),
        ends_at=posted.ends_at,
        created_by=posted.created_by,
        comment=posted.comment,
    )
    try:
        made = new_silence(asked, now)
    except InvalidSilence as exc:
        raise ApiError(400, "invalid silence", str(exc)) from exc

    def save(tx: WriteTx) -> str | None:
        if posted.id is None:
            tx.save_silence(made)
            return made.id
        old = tx.get_silence(posted.id)
        if old is None:
            return None
        tx.save_silence(_replacing(old, made, now))
        return old.id

    saved = await ctx.store.write(save)
    if saved is None:
        raise ApiError(404, "no such silence", str(posted.id))
    return {"silenceID": saved}


def _replacing(old: Silence, new: Silence, now: float) -> Silence:
    return Silence(
        old.id,
        new.matchers,
        new.starts_at,
        new.ends_at,
        new.created_by,
        new.comment,
        old.created_at,
        now,
    )


@router.get("/silences")
async def get_silences(ctx: Ctx) -> list[dict[str, Any]]:
    now = time.time()
    found = await ctx.store.read(lambda tx: tx.list_silences(state=None, now=now, limit=1000))
    return [shown for s in found if (shown := _gettable(s, now)) is not None]


@router.get("/silence/{silence_id}")
async def get_silence(silence_id: str, ctx: Ctx) -> dict[str, Any]:
    found = await ctx.store.read(lambda tx: tx.get_silence(silence_id))
    shown = _gettable(found, time.time()) if found is not None else None
    if shown is None:
        raise ApiError(404, "no such silence", silence_id)
    return shown


@router.delete("/silence/{silence_id}")
async def delete_silence(silence_id: str, ctx: Ctx) -> dict[str, str]:
    now = time.time()

    def expire(tx: WriteTx) -> bool:
        found = tx.get_silence(silence_id)
        if found is None:
            return False
        if found.state(now) != "expired":
            tx.save_silence(expired(found, now))
        return True

    if not await ctx.store.write(expire):
        raise ApiError(404, "no such silence", silence_id)
    return {}


def _gettable(silence: Silence, now: float) -> dict[str, Any] | None:
    """Alertmanager's gettableSilence, or None when a matcher has no v2 form."""
    matchers = []
    for text in silence.matchers:
        try:
            parsed = parse_matcher(text)
        except MatcherError:
            return None
        fields = _FIELDS.get(parsed.op)
        if fields is None:
            return None
        regex, equal = fields
        matchers.append(
            {"name": parsed.name, "value": parsed.value, "isRegex": regex, "isEqual": equal}
        )
    return {
        "id": silence.id,
        "status": {"state": silence.state(now)},
        "updatedAt": iso(silence.updated_at),
        "matchers": matchers,
        "startsAt": iso(silence.starts_at),
        "endsAt": iso(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }
