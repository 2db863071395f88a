"""Making, listing and expiring silences (POST/GET/DELETE /api/silences, the console, the
CLI): what a request may say, and how a stored silence is shown.

A silence's matchers are routes.yaml's matcher syntax, checked as routing checks them
(RE2, bounded), so a bad one is refused with its text and never stored.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.durations import Duration
from app.routing.matchers import MatcherError, parse_matcher
from app.store.oncall import Silence

MAX_MATCHERS = 20
# Alertmanager does not bound a silence either; a year is far above any maintenance.
MAX_LENGTH = timedelta(days=366)

Text = Annotated[str, StringConstraints(max_length=1000)]
Who = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class InvalidSilence(ValueError):
    """A silence request that cannot be kept: the text names the matcher or the field."""


class SilenceRequest(BaseModel):
    """The body of POST /api/silences: `duration` or `ends_at`, `starts_at` optional (now)."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        min_length=1, max_length=MAX_MATCHERS
    )
    duration: Duration | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    created_by: Who
    comment: Text = ""


def new_silence(request: SilenceRequest, now: float | None = None) -> Silence:
    """The silence a request asks for; raises InvalidSilence saying what is wrong."""
    now = time.time() if now is None else now
    for text in request.matchers:
        try:
            parse_matcher(text)
        except MatcherError as exc:
            raise InvalidSilence(str(exc)) from exc
    starts = request.starts_at.timestamp() if request.starts_at else now
    if (request.duration is None) == (request.ends_at is None):
        raise InvalidSilence('give either "duration" or "ends_at"')
    if request.duration is not None:
        ends = starts + request.duration.total_seconds()
    else:
        assert request.ends_at is not None
        ends = request.ends_at.timestamp()
    if ends <= max(starts, now):
        raise InvalidSilence("the silence would end before it starts or in the past")
    if ends - starts > MAX_LENGTH.total_seconds():
        raise InvalidSilence(f"a silence lasts at most {MAX_LENGTH.days} days")
    return Silence(
        id=str(uuid.uuid4()),
        matchers=list(request.matchers),
        starts_at=starts,
        ends_at=ends,
        created_by=request.created_by,
        comment=request.comment,
        created_at=now,
        updated_at=now,
    )


def expired(silence: Silence, now: float | None = None) -> Silence:
    """The silence ended now (a pending one never starts)."""
    now = time.time() if now is None else now
    return Silence(
        id=silence.id,
        matchers=silence.matchers,
        starts_at=min(silence.starts_at, now),
        ends_at=now,
        created_by=silence.created_by,
        comment=silence.comment,
        created_at=silence.created_at,
        updated_at=now,
    )


def quoted(value: str) -> str:
    """A matcher's value in quotes, escaped as the matcher parser reads it back."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def silence_json(silence: Silence, now: float | None = None) -> dict[str, Any]:
    """How the API shows a silence."""
    now = time.time() if now is None else now
    return {
        "id": silence.id,
        "matchers": silence.matchers,
        "starts_at": iso(silence.starts_at),
        "ends_at": iso(silence.ends_at),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "created_at": iso(silence.created_at),
        "updated_at": iso(silence.updated_at),
        "state": silence.state(now),
    }
