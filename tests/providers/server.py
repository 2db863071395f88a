"""A recording ASGI fake provider and a uvicorn thread to serve it on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Recorded:
    """One request as the provider received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    # time.monotonic() when the request arrived: for rate checks.
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def errcode(cls, code: int, message: str) -> Reply:
        """DingTalk/WeCom style: always HTTP 200, the verdict in the JSON body."""
        body = json.dumps({"errcode": code, "errmsg": message}, ensure_ascii=False).encode()
        return cls(200, body, {"content-type": "application/json"})


class FakeProvider:
    """Records every request and answers it as the provider would; see `force` for faults."""

    # Requests per rolling minute, and per rolling second (0: no such limit), before the
    # provider's own rate-limit answer.
    per_minute = 20
    per_second = 0
    # How long a forced "hang" keeps the request open (the client must give up first).
    hang_seconds = 5.0
    # Seconds every answer takes: a slow provider keeps deliveries in flight.
    delay = 0.0

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.base_url = ""
        self._forced: deque[str] = deque()
        self._recent: deque[float] = deque()
        self._second: deque[float] = deque()
        self._down_until = 0.0

    def reset(self) -> None:
        self.per_minute = type(self).per_minute
        self.per_second = type(self).per_second
        self._second.clear()
        self.delay = type(self).delay
        self.requests.clear()
        self._forced.clear()
        self._recent.clear()
        self._down_until = 0.0

    def force(self, *behaviours: str) -> None:
        """Answer the next requests with these faults, in order.

        Common: "hang", "http_500", "http_503", "http_429" (Retry-After seconds),
        "http_429_date" (Retry-After HTTP-date); others are provider-specific.
        """
        self._forced.extend(behaviours)

    def down_for(self, seconds: float) -> None:
        """An outage: answer every request 503 for the next `seconds`."""
        self._down_until = time.monotonic() + seconds

    def answer(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def answer_forced(self, behaviour: str, request: Recorded) -> Reply:
        if behaviour == "rate_limit":
            return self.rate_limited()
        raise ValueError(f"unknown forced behaviour {behaviour!r}")

    def rate_limited(self) -> Reply:
        return Reply(429, b"rate_limited", {"retry-after": "7"})

    def over_rate(self) -> bool:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 60:
            self._recent.popleft()
        self._recent.append(now)
        while self._second and now - self._second[0] > 1:
            self._second.popleft()
        self._second.append(now)
        too_fast = bool(self.per_second) and len(self._second) > self.per_second
        return len(self._recent) > self.per_minute or too_fast

    async def _reply_for(self, request: Recorded) -> Reply:
        if time.monotonic() < self._down_until:
            return Reply(503, b"service unavailable")
        behaviour = self._forced.popleft() if self._forced else None
        if behaviour == "hang":
            await asyncio.sleep(self.hang_seconds)
            return Reply(504, b"hung")
        if behaviour in ("http_500", "http_503"):
            return Reply(int(behaviour[-3:]), b"rollup_error")
        if behaviour == "http_429":
            return Reply(429, b"rate_limited", {"retry-after": "7"})
        if behaviour == "http_429_date":
            return Reply(
                429, b"rate_limited", {"retry-after": formatdate(time.time() + 30, usegmt=True)}
            )
        if behaviour is not None:
            return self.answer_forced(behaviour, request)
        return self.answer(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            event = await receive()
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        request = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope["query_string"].decode())),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=b"".join(chunks),
        )
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = await self._reply_for(request)
        headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


class ServerThread:
    """Serves one ASGI app with uvicorn on 127.0.0.1 and an ephemeral port, in a thread."""

    def __init__(self, app: FakeProvider) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="error", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.app.base_url = self.base_url
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake provider did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()


@contextmanager
def serving(apps: dict[str, FakeProvider]) -> Iterator[dict[str, FakeProvider]]:
    """Each fake provider on a server of its own (127.0.0.1, a free port) while in use."""
    threads = [ServerThread(app) for app in apps.values()]
    for thread in threads:
        thread.start()
    try:
        yield apps
    finally:
        for thread in threads:
            thread.stop()
