"""The channel's far end: a raw asyncio HTTP/1.1 server that answers 200 at once.

For every POSTed body it records (bench_id, arrival time) for each item of
`events[*].labels.bench_id` (Signalbox's `webhook` channel) or
`alerts[*].labels.bench_id` (Alertmanager's webhook receiver). Times are
time.monotonic(), CLOCK_MONOTONIC, which every process on the machine shares, so the
load generator can subtract its own send times.

    GET  /count     -> {"arrivals": N}
    GET  /arrivals  -> {"arrivals": [[id, t], ...], "posts": P}
    POST /reset     -> forget everything
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Coroutine
from typing import Any

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Sink:
    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []
        self.posts = 0

    def record(self, body: bytes, now: float) -> None:
        self.posts += 1
        try:
            payload = json.loads(body)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        items = payload.get("events") or payload.get("alerts") or []
        for item in items:
            bench_id = (item.get("labels") or {}).get("bench_id")
            if bench_id is not None:
                self.arrivals.append((bench_id, now))

    def answer(self, method: str, path: str) -> bytes:
        if method == "GET" and path == "/count":
            return _json({"arrivals": len(self.arrivals), "posts": self.posts})
        if method == "GET" and path == "/arrivals":
            return _json({"arrivals": self.arrivals, "posts": self.posts})
        if method == "POST" and path == "/reset":
            self.arrivals, self.posts = [], 0
        return OK

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = time.monotonic()
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if method == "POST" and path not in {"/reset"}:
                    self.record(body, now)
                    writer.write(OK)
                else:
                    writer.write(self.answer(method, path))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _json(value: object) -> bytes:
    body = json.dumps(value).encode()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def serve(port: int) -> None:
    sink = Sink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def run_fast(coro: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (as the servers get it), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run_fast(serve(args.port))


if __name__ == "__main__":
    main()
