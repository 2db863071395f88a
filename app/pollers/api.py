"""Talking to a CI API: GETs with a timeout, a retry or two, and the answers sorted into
what the scheduler (app/pollers/scheduler.py) does about them.

- Unreachable: the server did not answer usefully (connection refused, timeout, 5xx) even
  after the retries. Counts against the CI system's circuit breaker.
- RateLimited: the API asked us to stop until a time (403/429 with Retry-After or the
  rate-limit reset). Pauses every target of the CI system, on every replica.
- TargetFailed: the server answered, but not for this target (404, 401, 403, a body
  that is not the JSON expected). Backs this target off; the others go on.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

# Answers worth a second try within the same poll: the server or its proxy is busy.
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
# Answers read as JSON are capped: a CI page is kilobytes; anything bigger is not the API.
MAX_BODY = 8 * 1024 * 1024
# Larger answers are decoded off the event loop (~1 ms of json.loads per 100 kB).
DECODE_INLINE = 256 * 1024
# Without Retry-After or a reset time, a refusal pauses polls this long (GitHub asks for
# "at least one minute" on secondary rate limits).
DEFAULT_RATE_PAUSE = 60.0


class PollError(Exception):
    """A poll that did not complete; the text is safe to show (no credentials)."""


class Unreachable(PollError):
    pass


class TargetFailed(PollError):
    pass


class RateLimited(PollError):
    def __init__(self, message: str, until: float) -> None:
        super().__init__(message)
        self.until = until


@dataclass
class RateInfo:
    """What the API said about its own rate limit on the latest answer."""

    remaining: int | None = None
    reset: float | None = None


@dataclass
class Api:
    """One CI system's API for one poll: its base URL, auth headers and request count."""

    client: httpx.AsyncClient
    base: str
    headers: Mapping[str, str]
    timeout: float
    retries: int = 2
    retry_delay: float = 1.0
    requests: int = 0
    rate: RateInfo = field(default_factory=RateInfo)

    async def get(
        self, path_or_url: str, params: Mapping[str, Any] | None = None, **headers: str
    ) -> httpx.Response:
        """GET a path under the base (or a full URL the API gave, like a Link's next):
        a 2xx or 304 answer, or the PollError saying why not."""
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        if not _same_origin(url, self.base):
            # A Link to another host would be sent the token.
            raise TargetFailed("the API linked to another address; not followed")
        error: PollError = Unreachable("no attempt made")
        for attempt in range(self.retries + 1):
            if attempt:
                # Jittered, so replicas that failed together do not come back together.
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1))
            answer = await self._once(url, params, {**self.headers, **headers})
            if isinstance(answer, httpx.Response):
                return answer
            error, retry = answer
            if not retry:
                break
        raise error

    async def _once(
        self, url: str, params: Mapping[str, Any] | None, headers: dict[str, str]
    ) -> httpx.Response | tuple[PollError, bool]:
        """The answer, or the error with whether it is worth another try."""
        self.requests += 1
        # Redirects are never followed: one elsewhere would carry the token there.
        request = self.client.build_request(
            "GET", url, params=params, headers=headers, timeout=self.timeout
        )
        try:
            # The whole answer within the timeout (httpx's is per read: a server that
            # trickles bytes would hold the poll for ever), and no more than MAX_BODY.
            async with asyncio.timeout(self.timeout):
                response = await self._bounded(request)
        except (httpx.TimeoutException, TimeoutError):
            return Unreachable(f"no answer within {self.timeout:g}s"), True
        except httpx.HTTPError as exc:
            return Unreachable(f"cannot connect: {type(exc).__name__}"), True
        if response is None:
            return TargetFailed(f"answer over {MAX_BODY // (1024 * 1024)} MB"), False
        self._note_rate(response)
        if response.is_success or response.status_code == 304:
            return response
        return self._refusal(response), response.status_code in RETRIED_STATUSES

    async def _bounded(self, request: httpx.Request) -> httpx.Response | None:
        """The answer read whole, or None when its body passes MAX_BODY."""
        response = await self.client.send(request, stream=True)
        body = bytearray()
        try:
            # Decoded (gzip): a chunk inflates at most ~1000-fold before the check.
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    return None
        finally:
            await response.aclose()
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=request
        )

    def _note_rate(self, response: httpx.Response) -> None:
        # GitHub's x-ratelimit-*, GitLab's RateLimit-* (https://docs.gitlab.com/ee/user/admin_area/settings/user_and_ip_rate_limits.html).
        h = response.headers
        remaining = h.get("x-ratelimit-remaining") or h.get("ratelimit-remaining")
        reset = h.get("x-ratelimit-reset") or h.get("ratelimit-reset")
        if remaining is not None and remaining.strip().isdigit():
            self.rate.remaining = int(remaining)
        if reset is not None and reset.strip().isdigit():
            self.rate.reset = float(reset)

    def _refusal(self, response: httpx.Response) -> PollError:
        status = response.status_code
        if status in (403, 429):
            until = _pause_until(response, time.time())
            if until is not None:
                return RateLimited(f"HTTP {status}: rate limited", until)
        if status in RETRIED_STATUSES or status >= 500:
            return Unreachable(f"HTTP {status}")
        return TargetFailed(f"HTTP {status}{_why(status)}")


def _why(status: int) -> str:
    return {
        401: " (the token was refused)",
        301: " (redirected: is url the API base?)",
        302: " (redirected: is url the API base, or a login page?)",
        403: " (the token may not read this)",
        404: " (no such target, or the token cannot see it)",
    }.get(status, "")


def _pause_until(response: httpx.Response, now: float) -> float | None:
    """When a 403/429 lets us poll again; None when it is not about a rate limit.

    GitHub: Retry-After first, then x-ratelimit-remaining 0 with x-ratelimit-reset, else a
    403/429 that says "rate limit" (secondary limits) waits a minute
    (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit).
    GitLab answers 429 with Retry-After, sometimes without any header
    (https://docs.gitlab.com/ee/security/rate_limits.html).
    """
    h = response.headers
    retry_after = h.get("retry-after")
    if retry_after:
        if retry_after.strip().isdigit():
            return now + min(float(retry_after), 3600.0)
        when = http_date(retry_after)
        if when is not None:
            return min(max(when, now + 1.0), now + 3600.0)
    remaining = h.get("x-ratelimit-remaining") or h.get("ratelimit-remaining")
    reset = h.get("x-ratelimit-reset") or h.get("ratelimit-reset")
    if remaining == "0" and reset and reset.strip().isdigit():
        return min(max(float(reset), now + 1.0), now + 3600.0)
    if response.status_code == 429 or b"rate limit" in response.content[:2000].lower():
        return now + DEFAULT_RATE_PAUSE
    return None


async def json_of(response: httpx.Response, what: str) -> Any:
    """The answer's JSON, or TargetFailed naming what was expected. A large answer (a
    Jenkins folder's jobs) is decoded in a thread, not on the event loop."""
    try:
        if len(response.content) > DECODE_INLINE:
            return await asyncio.to_thread(response.json)
        return response.json()
    except ValueError:
        raise TargetFailed(f"{what}: answer is not JSON") from None


def _same_origin(url: str, base: str) -> bool:
    try:
        a, b = httpx.URL(url), httpx.URL(base)
    except httpx.InvalidURL:
        return False
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def http_date(text: str | None) -> float | None:
    """An HTTP date (RFC 9110, "Wed, 21 Oct 2015 07:28:00 GMT") as epoch seconds."""
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def server_time(response: httpx.Response, fallback: float) -> float:
    """The server's clock from its Date header (cursors are in the server's time)."""
    found = http_date(response.headers.get("date"))
    return fallback if found is None else found
