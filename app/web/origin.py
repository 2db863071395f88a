"""Refusing state-changing requests a browser sends on behalf of another site (CSRF).

A browser that has the console's basic-auth token cached sends it with any request to
this address, whichever page asked: without this check a page anywhere could submit a
form to `POST /-/reload` or a Retry. Browsers say where a request comes from (`Origin`,
`Sec-Fetch-Site`, `Referer`) and pages cannot forge those; clients that send none of
them (curl, the CLI, CI jobs) are not browsers and are not asked.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.logs import log
from app.web.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Webhooks are posted by servers and authenticated per source (docs/sources.md).
EXEMPT_PREFIX = "/hooks/"
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an absolute http(s) URL (port always written), else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}"


class CrossSiteGuard:
    """403 for a non-GET/HEAD/OPTIONS request outside /hooks/ that a browser sent from
    elsewhere: `Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` (without one,
    a `Referer`) other than this service's own origin, which is the scheme and Host the
    request came to, or `external_origin` (SIGNALBOX_EXTERNAL_URL) behind a proxy.
    """

    def __init__(self, app: ASGIApp, external_origin: str | None = None) -> None:
        self.app = app
        self.external_origin = external_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            path: str = scope["path"]
            reason = None if path.startswith(EXEMPT_PREFIX) else self._foreign(scope)
            if reason is not None:
                log(logging.WARNING, "cross-site request refused", path=path, reason=reason)
                refusal = ApiError(
                    403,
                    "cross-site request refused",
                    f"{reason}; set SIGNALBOX_EXTERNAL_URL if the console is reached "
                    "at another address",
                )
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _foreign(self, scope: Scope) -> str | None:
        """Why the request comes from another site, or None when it does not."""
        headers = Headers(scope=scope)
        site = headers.get("sec-fetch-site", "").lower()
        if site in ("cross-site", "same-site"):
            return f"Sec-Fetch-Site is {site}"
        claimed = headers.get("origin")
        said = "Origin"
        if claimed is None:
            claimed = headers.get("referer")
            said = "Referer"
            if claimed is None:
                return None  # not a browser
        origin = origin_of(claimed)
        if origin is not None and origin in self._own_origins(scope, headers):
            return None
        return f"{said} {claimed[:200]!r} is not this service's origin"

    def _own_origins(self, scope: Scope, headers: Headers) -> set[str]:
        own = {self.external_origin} if self.external_origin else set()
        host = headers.get("host")
        if host:
            here = origin_of(f"{scope.get('scheme', 'http')}://{host}")
            if here is not None:
                own.add(here)
        return own
