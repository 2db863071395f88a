"""uvicorn as `signalbox serve` runs it: deadlines for every stage of a request a client controls.

uvicorn closes a connection only when it stays idle after a response (its
`timeout_keep_alive`, armed in `on_response_complete`); any byte received cancels that
timer. A connection that never sends a byte, sends its headers a byte at a time, or
trickles its body is kept forever: 1,100 of them took every file descriptor of a
1,024-descriptor server, and a header of any size is buffered (httptools has no cap).
`GuardedHttpTools` adds a deadline per stage that arriving bytes do not extend:

    stage    from                                        until
    idle     the connection opened, or a response was sent  a request's first byte
    headers  a request's first byte                      the end of its headers
    body     the end of its headers                      the end of its body

The application's own time is never limited (a slow handler, a live feed that streams
for hours). A request whose headers or body are late gets `408` when nothing else is
being answered on the connection, then the connection is closed; an idle one is just
closed, as uvicorn's keep-alive does. Headers past MAX_HEADER_BYTES get `431`.

What one process cannot do, a reverse proxy in front does: capping connections per
client address (nginx `limit_conn`); see docs/operations.md "Security".
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.logs import log
from app.settings import Settings

# Request line plus headers; nginx's default large_client_header_buffers is 4 x 8 KiB and
# h11 stops at 16 KiB. Checked per read, so a header block is cut off within one read of it.
MAX_HEADER_BYTES = 64 * 1024

Stage = Literal["idle", "headers", "body", "app"]


@dataclass(frozen=True)
class ConnectionLimits:
    """Seconds each stage of a request may take; see the module docstring."""

    idle: float
    headers: float
    body: float


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline per stage (module docstring)."""

    limits: ClassVar[ConnectionLimits]

    _stage: Stage = "idle"
    # When the current stage must end (loop time), None in the app's own time. The timer
    # is moved only when a deadline comes sooner than it: a request then costs no timer
    # at all on a kept-alive connection, where a stage change would cost ~2.5 µs each.
    _deadline: float | None = None
    _timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._enter("idle")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counting = self._stage in ("idle", "headers")
        if counting:
            self._header_bytes += len(data)
        super().data_received(data)
        # Still in the headers after this read: they were too long already, or still are.
        if counting and self._stage == "headers" and self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(431, "Request Header Fields Too Large", "request headers too large")

    # The parser's callbacks, run inside data_received.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._enter("headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._header_bytes = 0
        self._enter("body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._enter("app")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The connection waits for a request unless one is being read or is answered next.
        waiting = self.cycle is None or self.cycle.response_complete
        if self._stage == "app" and waiting and not self.transport.is_closing():
            self._enter("idle")

    def _unsupported_upgrade_warning(self) -> None:
        # Served with ws="none": an Upgrade request is answered as plain HTTP, and uvicorn's
        # advice to install a websocket library would only mislead whoever reads the log.
        return

    def _enter(self, stage: Stage) -> None:
        self._stage = stage
        limit: float | None = None if stage == "app" else getattr(self.limits, stage)
        if limit is None:
            self._deadline = None  # a pending timer finds no deadline and lapses
            return
        self._deadline = self.loop.time() + limit
        if self._timer is None or self._timer.when() > self._deadline:
            self._schedule(self._deadline)

    def _schedule(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(at, self._check)

    def _disarm(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._deadline is None or self.transport.is_closing():
            return
        if self.loop.time() < self._deadline:
            self._schedule(self._deadline)  # the deadline moved on since this timer was set
            return
        if self._stage == "idle":
            self.transport.close()
            return
        what = "request headers" if self._stage == "headers" else "request body"
        limit = getattr(self.limits, self._stage)
        self._refuse(408, "Request Timeout", f"{what} not received within {limit:g} s")

    def _refuse(self, status: int, phrase: str, reason: str) -> None:
        """Answer `status` when nothing else is being answered here, then close."""
        self._disarm()
        log(logging.WARNING, "connection closed", client=_address(self.client), reason=reason)
        cycle = self.cycle
        replying = bool(self.pipeline) or (
            cycle is not None and cycle.response_started and not cycle.response_complete
        )
        if cycle is not None and not cycle.response_complete:
            # The request being read is abandoned: its handler sees a disconnect, and
            # whatever it answers is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if not replying:
            body = f"{reason}\n".encode()
            head = (
                f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def _address(client: tuple[str, int] | None) -> str | None:
    return f"{client[0]}:{client[1]}" if client else None


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpTools]:
    """The protocol class uvicorn instantiates per connection, bound to `limits`."""
    return type("GuardedHttpTools", (GuardedHttpTools,), {"limits": limits})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The connection handling `signalbox serve` gives uvicorn (tests serve the same way)."""
    limits = ConnectionLimits(
        idle=settings.timeout_keep_alive,
        headers=settings.timeout_headers,
        body=settings.timeout_body,
    )
    return {
        "http": guarded_protocol(limits),
        # uvicorn's own keep-alive timer (whole seconds, rounded up) never closes before ours.
        "timeout_keep_alive": math.ceil(settings.timeout_keep_alive),
        # No websocket route exists: an Upgrade request gets plain HTTP, not a protocol switch.
        "ws": "none",
    }
