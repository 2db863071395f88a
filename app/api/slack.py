"""POST /slack/interactions: the Acknowledge buttons of Slack messages (channels/slack.py).

Slack posts a click here, form-encoded (`payload=<JSON>`), signed with the app's signing
secret: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">` and
`X-Slack-Request-Timestamp` (https://api.slack.com/authentication/verifying-requests-from-
slack; payload: https://api.slack.com/reference/interaction-payloads/block-actions). The
signature is the credential: it is checked against the signing secret of every Slack
channel in force, in constant time, and requests older than five minutes are refused as
replays. The button's value is the event's signed acknowledgement token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from app.context import AppContext
from app.oncall.acks import NotAcknowledgeable, acknowledge
from app.oncall.tokens import BadToken
from app.web.body import read_limited
from app.web.deps import Ctx
from app.web.errors import ApiError
from channels.slack import ACK_ACTION, SlackConfig

router = APIRouter()

# Slack's advice: refuse requests whose timestamp is more than five minutes off.
MAX_SKEW = 300
# Interaction payloads are small; Slack's own limit on a message is far below this.
MAX_BODY = 64 * 1024


@router.post("/slack/interactions", response_model=None)
async def interactions(request: Request, ctx: Ctx) -> JSONResponse:
    body = await read_limited(request, MAX_BODY)
    _verify(ctx, request.headers.get("x-slack-request-timestamp", ""), request.headers, body)
    try:
        payload: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
        actions = [a for a in payload.get("actions", []) if _ours(a)]
        user = payload.get("user") or {}
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        raise ApiError(400, "malformed body", f"not a Slack interaction payload: {exc}") from exc
    by = str(user.get("username") or user.get("name") or user.get("id") or "someone on Slack")
    said = []
    for action in actions:
        try:
            if ctx.bus.links is None:
                raise BadToken("acknowledgement links are not set up")
            event_id = ctx.bus.links.event_of(str(action.get("value", "")))
            done = await acknowledge(ctx.store, ctx.bus, event_id, by, "", "slack")
            said.append(f"acknowledged by {done.ack.by}")
        except (BadToken, NotAcknowledgeable) as exc:
            said.append(f"not acknowledged: {exc}")
    # Slack shows nothing of this answer for a button; the channels hear of the ack.
    return JSONResponse({"text": "; ".join(said) or "nothing to do"})


def _ours(action: object) -> bool:
    return isinstance(action, dict) and str(action.get("action_id", "")).startswith(ACK_ACTION)


def _verify(ctx: AppContext, stamp: str, headers: Headers, body: bytes) -> None:
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_SKEW:
        raise ApiError(401, "unauthorized", "missing or stale X-Slack-Request-Timestamp")
    given = headers.get("x-slack-signature", "").encode()
    signed = b"v0:" + stamp.encode() + b":" + body
    secrets = [
        c.signing_secret.get_secret_value().strip().encode()
        for c in ctx.config_in_force().channels.values()
        if isinstance(c, SlackConfig) and c.signing_secret is not None
    ]
    expected = [
        b"v0=" + hmac.new(s, signed, hashlib.sha256).hexdigest().encode() for s in secrets if s
    ]
    # Every secret is compared (a list, not any() over a generator): no early exit.
    if not any([hmac.compare_digest(given, e) for e in expected]):
        raise ApiError(401, "unauthorized", "bad X-Slack-Signature")
