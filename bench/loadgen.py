"""Load generator for the end-to-end benches: a raw asyncio HTTP/1.1 client.

httpx costs more CPU per request than the servers under test at these rates, so this
speaks HTTP/1.1 itself over a fixed pool of keep-alive connections (the concurrency
cap). Two shapes:

- burst(n): n requests as fast as the pool allows; latency counts from the moment each
  request is written.
- fixed_rate(rate, seconds): request i is due at t0 + i/rate; latency counts from that
  due time, so a server that makes the client wait is charged for it (no coordinated
  omission). `send_lag` says how late requests went out.

Given several ports (N replicas on N ports), request i goes to port i mod N: round
robin, as a load balancer in front of them would share the requests out.

Every request carries one alert with a unique `bench_id` label; the sink records when
each id arrives (see sink.py), and `analyse` joins the two.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common import HOST, percentile

# bench_id -> the raw bytes of one HTTP request
MakeRequest = Callable[[str], bytes]


def http_post(path: str, body: bytes, port: int, headers: dict[str, str] | None = None) -> bytes:
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def alert(bench_id: str, run: str, shards: int = 1) -> dict[str, Any]:
    """One firing alert; with `shards` > 1 its `shard` label says which of that many
    receivers it is routed to (common.sink_routes), from the number ending its id."""
    labels = {
        "alertname": "BenchAlert",
        "severity": "warning",
        "instance": f"bench-{bench_id}",
        "run": run,
        "bench_id": bench_id,
    }
    if shards > 1:
        labels["shard"] = str(int(bench_id.rsplit("-", 1)[1]) % shards)
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"bench alert {bench_id}"},
        "startsAt": datetime.now(UTC).isoformat(),
        "generatorURL": "http://127.0.0.1/bench",
    }


def signalbox_request(port: int, run: str, shards: int = 1) -> MakeRequest:
    """One Alertmanager webhook (version 4) notification holding one alert."""

    def make(bench_id: str) -> bytes:
        body = {
            "version": "4",
            "status": "firing",
            "receiver": "signalbox",
            "groupKey": f'{{}}:{{bench_id="{bench_id}"}}',
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "alerts": [alert(bench_id, run, shards)],
        }
        return http_post("/hooks/alertmanager", json.dumps(body).encode(), port)

    return make


def alertmanager_request(port: int, run: str, shards: int = 1) -> MakeRequest:
    """Alertmanager's own API: POST /api/v2/alerts with one alert."""

    def make(bench_id: str) -> bytes:
        body = json.dumps([alert(bench_id, run, shards)]).encode()
        return http_post("/api/v2/alerts", body, port)

    return make


# A kept-alive connection idle this long is opened anew before the next request: servers
# close idle ones (uvicorn after 5 s), and a request written as the close crosses it is
# lost, where a real client would have retried it on a new connection.
IDLE_REOPEN = 2.0


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def request(self, raw: bytes) -> int:
        if self.reader is not None and (
            self.reader.at_eof() or time.monotonic() - self.used > IDLE_REOPEN
        ):
            self.close()
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                await self.reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            if headers.get("connection", "").lower() == "close":
                self.close()
            self.used = time.monotonic()
            return status
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Sent:
    """What the client did: due and send times per id, answers, failures."""

    due: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)
    answer_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ok: set[str] = field(default_factory=set)
    started: float = 0.0
    finished: float = 0.0


async def _one(conn: Connection, make: MakeRequest, bench_id: str, due: float, out: Sent) -> None:
    raw = make(bench_id)
    start = time.monotonic()
    out.due[bench_id] = due
    out.sent[bench_id] = start
    try:
        status = await asyncio.wait_for(conn.request(raw), 30)
    except Exception as exc:
        out.errors[type(exc).__name__] += 1
        return
    out.answer_ms.append((time.monotonic() - start) * 1000)
    out.statuses[status] += 1
    if 200 <= status < 300:
        out.ok.add(bench_id)


async def burst(ports: Sequence[int], make: MakeRequest, ids: list[str], concurrency: int) -> Sent:
    out = Sent(started=time.monotonic())
    pending = enumerate(ids)

    async def worker() -> None:
        # A connection to each port; request i goes to port i mod N.
        conns = [Connection(port) for port in ports]
        for i, bench_id in pending:
            # In a burst every request is due as soon as a connection is free.
            await _one(conns[i % len(conns)], make, bench_id, time.monotonic(), out)
        for conn in conns:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.finished = time.monotonic()
    return out


async def fixed_rate(
    ports: Sequence[int], make: MakeRequest, ids: list[str], rate: float, concurrency: int
) -> Sent:
    """`concurrency` connections in all, shared evenly among the ports."""
    out = Sent()
    pools: list[asyncio.Queue[Connection]] = [asyncio.Queue() for _ in ports]
    for n in range(concurrency):
        pools[n % len(ports)].put_nowait(Connection(ports[n % len(ports)]))
    tasks: set[asyncio.Task[None]] = set()

    async def send(bench_id: str, due: float, free: asyncio.Queue[Connection]) -> None:
        conn = await free.get()
        try:
            await _one(conn, make, bench_id, due, out)
        finally:
            free.put_nowait(conn)

    t0 = out.started = time.monotonic() + 0.05
    for i, bench_id in enumerate(ids):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0.001:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(bench_id, due, pools[i % len(pools)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))
    out.finished = time.monotonic()
    for free in pools:
        while not free.empty():
            free.get_nowait().close()
    return out


def sink_get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=30) as answer:
        return json.loads(answer.read())


def drain(sink_port: int, expected: int, timeout: float, quiet: float = 3.0) -> list[list[Any]]:
    """Wait until `expected` alerts arrived, or nothing new came for `quiet` seconds
    (after a grace of 3 s), or `timeout`; return the arrivals."""
    start = time.monotonic()
    last_count, last_change = -1, start
    while True:
        now = time.monotonic()
        count = int(sink_get(sink_port, "/count")["arrivals"])
        if count != last_count:
            last_count, last_change = count, now
        if count >= expected or now - start > timeout:
            break
        if now - last_change > quiet and now - start > 3.0:
            break
        time.sleep(0.1)
    # A little longer, so duplicates sent after the last first arrival are seen too.
    time.sleep(0.5)
    return list(sink_get(sink_port, "/arrivals")["arrivals"])


def analyse(sent: Sent, arrivals: list[list[Any]], from_due: bool) -> dict[str, float]:
    first: dict[str, float] = {}
    seen: Counter[str] = Counter()
    for bench_id, t in arrivals:
        seen[bench_id] += 1
        if bench_id not in first or t < first[bench_id]:
            first[bench_id] = t
    start_of = sent.due if from_due else sent.sent
    latencies = [(first[i] - start_of[i]) * 1000 for i in sent.ok if i in first]
    delivered = len(latencies)
    last_arrival = max((first[i] for i in sent.ok if i in first), default=sent.started)
    span = max(last_arrival - sent.started, 1e-9)
    lags = [(sent.sent[i] - sent.due[i]) * 1000 for i in sent.sent]
    return {
        "requests": float(len(sent.sent)),
        "accepted": float(len(sent.ok)),
        "refused": float(sum(n for s, n in sent.statuses.items() if not 200 <= s < 300)),
        "errors": float(sum(sent.errors.values())),
        "send_s": sent.finished - sent.started,
        "send_rate": len(sent.sent) / max(sent.finished - sent.started, 1e-9),
        "delivered": float(delivered),
        "delivered_per_s": delivered / span,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "answer_p99_ms": percentile(sent.answer_ms, 99),
        "send_lag_p99_ms": percentile(lags, 99),
        "missing": float(len(sent.ok) - delivered),
        "duplicates": float(sum(n - 1 for n in seen.values() if n > 1)),
        "unexpected": float(len([i for i in seen if i not in sent.sent])),
    }
