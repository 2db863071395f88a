"""httpx's API on aiohttp's connection pool, for every outbound channel request.

httpcore's pool re-checks every pooled connection on each request, so throughput falls
as concurrency rises: on one core, 16 concurrent posts to a local receiver ran at ~600/s
with httpx's own transport and ~2,300/s through this one (encode/httpx#3215 is the
maintainers' thread on it). Channels keep httpx's request and response types.

Why not the httpx-aiohttp package (0.2.0), which does this job: it passes the
conformance suite except for translating errors — its exception map turns aiohttp's
ClientConnectorError (a refused or unreachable host) into httpx.ConnectTimeout, because
the broader ClientConnectionError → ConnectTimeout entry matches first and ConnectError
is not a subclass of it, so a dead receiver would be logged as "timed out after 10s".
It also keeps aiohttp's cookie jar unless handed a session factory, and sets three
aiohttp timers per request. Measured with it in place of this module
(`BENCH_SRC=<tree with it> bench/hotpath.py --deliver --base <this tree>`, interleaved,
2 cores shared with other jobs): 1,530 → 1,362 µs per delivered alert in one run,
1,424 → 1,602 in the next — the same within this machine's noise, so no gain to pay
for a wrong error and a workaround.
"""

from __future__ import annotations

import aiohttp
import httpx


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        # Created on first use: an aiohttp session must be made inside the running loop.
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                auto_decompress=True,
                # No cookies kept (as the httpx client keeps none), and no timer per
                # request: HttpChannel.post bounds every exchange with its own timeout.
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        try:
            async with self._session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=request.content,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                return httpx.Response(
                    answer.status,
                    headers=[(k, v) for k, v in answer.headers.items()],
                    content=body,
                    request=request,
                )
        except TimeoutError as exc:
            raise httpx.TimeoutException(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientConnectionError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(str(exc), request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
