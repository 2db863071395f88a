"""POST /hooks/{source} and /hooks/generic/{name}: verify, parse, store, answer — and say
exactly why when refusing."""

from __future__ import annotations

import hashlib
import logging
from functools import partial

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.accept import accept
from app.api.body import json_document
from app.bus.plan import plan
from app.context import AppContext
from app.ingest import Duplicate
from app.logs import log
from app.metrics import WEBHOOKS_REFUSED
from app.sources import GENERIC_PREFIX, SOURCE_MODULES, resolve, source_family
from app.sources.base import (
    Ignored,
    JsonDocument,
    Malformed,
    MalformedJson,
    Unauthorized,
    decoded,
)
from app.store import StoreUnavailable
from app.web.body import read_limited
from app.web.errors import ApiError

# signalbox_webhooks_refused_total{reason}: one short word per HTTP refusal.
REFUSAL_REASONS = {
    400: "malformed",
    401: "unauthorized",
    404: "unknown_source",
    413: "too_large",
    415: "unsupported_media_type",
    503: "store_unavailable",
}
# Known label values start at 0, so rate() and alerts see the first increment.
for _source in (*SOURCE_MODULES, "generic"):
    for _reason in (*REFUSAL_REASONS.values(), "duplicate", "ignored"):
        WEBHOOKS_REFUSED.labels(_source, _reason)


HOOKS_PREFIX = "/hooks/"


class HookFastPath:
    """Serves POST /hooks/{source} and /hooks/generic/{name} straight from the ASGI scope.

    Webhooks are the hot path. FastAPI's exception, exit-stack and telemetry middlewares
    and its route matching over every console and API route cost about a third as much as
    handling the hook itself, and a hook needs none of them: it answers its own errors.
    Installed as the outermost user middleware (the origin check and security headers,
    which concern browsers, sit inside it), with ServerErrorMiddleware still around it to
    turn a bug into a logged 500. Other methods on a hook get 405; every other path goes
    on to the rest of the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = _hook_source(scope) if scope["type"] == "http" else None
        if source is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST":
            response = await handle_hook(Request(scope, receive), source)
        else:
            refusal = ApiError(
                405, "method not allowed", "webhooks are sent with POST", {"Allow": "POST"}
            )
            response = refusal.response()
        await response(scope, receive, send)


def _hook_source(scope: Scope) -> str | None:
    """`source` of a /hooks/{source} path, or `generic/{name}` of a /hooks/generic/{name}
    one (under the app's root_path), else None."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if not path.startswith(HOOKS_PREFIX):
        return None
    source = path[len(HOOKS_PREFIX) :]
    if source.startswith(GENERIC_PREFIX):
        name = source[len(GENERIC_PREFIX) :]
        return source if name and "/" not in name else None
    return source if source and "/" not in source else None


async def handle_hook(request: Request, source: str) -> Response:
    """Verify, parse, store and answer one webhook; refusals are answered and logged here."""
    ctx: AppContext = request.app.state.ctx
    try:
        return await _receive(source, request, ctx)
    except ClientDisconnect:
        # Nothing was accepted, and there is nobody left to answer.
        log(logging.WARNING, "webhook sender hung up before its body ended", source=source)
        return Response(status_code=400)
    except ApiError as refusal:
        WEBHOOKS_REFUSED.labels(
            source_family(source), REFUSAL_REASONS.get(refusal.status, "other")
        ).inc()
        log(
            logging.WARNING,
            "webhook refused",
            source=source,
            status=refusal.status,
            error=refusal.error,
            detail=refusal.detail,
        )
        return refusal.response()


async def _receive(source: str, request: Request, ctx: AppContext) -> Response:
    # One config version for the whole request: which generic names exist, auth, mapping
    # and routing agree.
    config = ctx.config_in_force()
    found = resolve(source, config.sources)
    if found is None:
        raise _unknown(source)
    module, auth = found
    body = await read_limited(request, ctx.settings.max_body_bytes)
    try:
        module.verify(request.headers, body, auth)
    except Unauthorized as exc:
        raise ApiError(401, "unauthorized", str(exc)) from exc
    payload = json_document(request.headers.get("content-type"), body, source)
    try:
        events = module.parse(request.headers, payload)
    except Ignored as exc:
        # Ignored before the body was read, maybe: broken JSON is still refused.
        _require_json(payload)
        return _ignored(source, str(exc))
    except MalformedJson as exc:
        raise _malformed_json(exc) from exc
    except Malformed as exc:
        raise ApiError(400, "unexpected payload", str(exc)) from exc
    if not events:
        return _ignored(source, "payload holds no events")

    delivery_id = module.delivery_id(request.headers)
    for event in events:
        event.delivery_id = delivery_id
    try:
        accepted = await accept(
            ctx.intake, events, _dedup_key(source, delivery_id, body), partial(plan, config)
        )
    except Duplicate:
        return _ignored(source, f"duplicate delivery {delivery_id}", metric="duplicate")
    except StoreUnavailable as exc:
        log(
            logging.ERROR,
            "event not stored",
            source=source,
            delivery_id=delivery_id,
            error=str(exc),
        )
        raise ApiError(503, "store unavailable", "event not stored; retry later") from exc

    # orjson rather than JSONResponse's json.dumps: this answer goes out for every webhook.
    answer = {"accepted": len(accepted.events), "event_ids": [e.id for e in accepted.events]}
    return Response(orjson.dumps(answer), status_code=202, media_type="application/json")


def _unknown(source: str) -> ApiError:
    if source.startswith(GENERIC_PREFIX):
        name = source[len(GENERIC_PREFIX) :]
        detail = f"no generic source named {name!r} under sources: generic: in routes.yaml"
    elif source == "generic":
        detail = "generic sources are posted to /hooks/generic/<name>"
    else:
        detail = f"no source named {source!r}; have {[*SOURCE_MODULES, 'generic/<name>']}"
    return ApiError(404, "unknown source", detail)


def _require_json(payload: JsonDocument) -> None:
    try:
        decoded(payload)
    except MalformedJson as exc:
        raise _malformed_json(exc) from exc


def _malformed_json(exc: MalformedJson) -> ApiError:
    return ApiError(400, "malformed JSON", str(exc))


def _dedup_key(source: str, delivery_id: str | None, body: bytes) -> str | None:
    # The body digest keeps two different hooks apart when a sender reuses one id for
    # them (GitLab's X-Gitlab-Event-UUID is shared by hooks fired by one request).
    if delivery_id is None:
        return None
    return f"{source}:{delivery_id}:{hashlib.sha256(body).hexdigest()[:16]}"


def _ignored(source: str, reason: str, metric: str = "ignored") -> JSONResponse:
    WEBHOOKS_REFUSED.labels(source_family(source), metric).inc()
    log(logging.INFO, "webhook ignored", source=source, reason=reason)
    return JSONResponse({"ignored": reason}, status_code=200)
