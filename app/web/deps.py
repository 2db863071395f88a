"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from fastapi import Depends, Request

from app.context import AppContext
from app.settings import Settings
from app.web.errors import ApiError


# async: a plain `def` dependency costs every request a hop through the thread pool.
async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="signalbox"'}


def token_accepted(request: Request, settings: Settings) -> bool:
    """True when no SIGNALBOX_API_TOKEN is set, or the request presents it (bearer or basic)."""
    token = settings.api_token
    if token is None or not token.get_secret_value():
        return True
    given = _presented_secret(request.headers.get("authorization", ""))
    return given is not None and hmac.compare_digest(
        given.encode(), token.get_secret_value().encode()
    )


async def require_api_token(request: Request, ctx: Ctx) -> None:
    """With SIGNALBOX_API_TOKEN set, /api/* wants it as a bearer token or basic-auth password."""
    if not token_accepted(request, ctx.settings):
        raise ApiError(
            401,
            "unauthorized",
            "this API needs SIGNALBOX_API_TOKEN (bearer or basic)",
            # Lets a browser opening /api/* or the console prompt for the token.
            headers=BASIC_CHALLENGE,
        )


def _presented_secret(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


ApiAuth = Depends(require_api_token)
