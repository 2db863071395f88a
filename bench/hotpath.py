"""The webhook hot path without HTTP: CPU time per request inside Signalbox itself.

    bench/hotpath.py                  # this tree
    bench/hotpath.py --base HEAD~3    # this tree against a commit, runs interleaved
    bench/hotpath.py --deliver        # alerts routed to a sink: CPU per delivered alert

Each run is a fresh process pinned to the server core that builds the app from a source
tree as bench/serve.py builds it (the startup heap frozen when the tree's `signalbox
serve` does that), starts its lifespan (real SQLite store, JSON logging to a file, no
routes) and calls the ASGI app directly with the ingest benchmark's fixture bodies, 64 requests in
flight at a time. It reports process CPU (user + system, every thread: event loop, store
writer, log writer) per request, the least of several measured rounds. Without uvicorn,
wrk and the kernel's loopback in the way, differences of a few percent between two trees
show up reliably; bench/ingest.py gives the figures over real HTTP.

With --deliver, each request carries one alert with a unique label, as bench/e2e.py
posts them, routed ungrouped to the e2e sink (sink.py, on the other core); a round ends
when the sink has every alert, and the figure is Signalbox's CPU per delivered alert:
ingest, routing, the delivery's records, render and the HTTP request to the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from common import (
    FIXTURES,
    HOST,
    PYTHON,
    SERVER_CPU,
    SRC,
    export_tree,
    free_port,
    machine_note,
    pinned,
    sink_routes,
    start_sink,
    table,
)
from loadgen import alert
from serve import signalbox_app

BODIES = {
    "alertmanager": (FIXTURES / "alertmanager" / "firing.multi.v4_fingerprint.json", {}),
    "github": (
        FIXTURES / "github" / "workflow_run.completed.failure.json",
        {"x-github-event": "workflow_run"},
    ),
}
IN_FLIGHT = 64
PER_CLIENT = 40
Message = MutableMapping[str, Any]


async def _post(app: Any, source: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    path = f"/hooks/{source}"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # a client that never disconnects
        raise AssertionError

    status: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


Request = tuple[bytes, list[tuple[bytes, bytes]]]


def _fixture_requests(source: str) -> Callable[[], Request]:
    path, extra = BODIES[source]
    body = path.read_bytes()
    serial = iter(range(10**9))

    def make() -> Request:
        # A new delivery id each time: a repeat would be answered "duplicate".
        fixed = {"content-type": "application/json", "content-length": str(len(body)), **extra}
        fixed["x-github-delivery"] = f"hotpath-{time.time_ns()}-{next(serial)}"
        return body, [(k.encode(), v.encode()) for k, v in fixed.items()]

    return make


def _alert_requests() -> Callable[[], Request]:
    serial = iter(range(10**9))

    def make() -> Request:
        body = json.dumps(
            {"version": "4", "receiver": "hotpath", "alerts": [alert(str(next(serial)), "hp")]}
        ).encode()
        return body, [(b"content-type", b"application/json")]

    return make


async def _measure(
    app: Any,
    source: str,
    make: Callable[[], Request],
    rounds: int,
    delivered: Callable[[], int] | None,
) -> float:
    """Least CPU µs per request over `rounds`; a round ends when every request is answered
    and, with a sink, `delivered()` has counted all of them."""

    async def client(count: int) -> list[int]:
        return [await _post(app, source, *make()) for _ in range(count)]

    async def round_of(count: int) -> list[int]:
        start = delivered() if delivered else 0
        answers = await asyncio.gather(*(client(count) for _ in range(IN_FLIGHT)))
        codes = [code for codes in answers for code in codes]
        # The sink is another process: asking it is the only way to know.
        while delivered and delivered() - start < len(codes):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return codes

    await round_of(10)  # warm-up: lazy imports, schema builds, first pages
    best = float("inf")
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_SELF)
        codes = await round_of(PER_CLIENT)
        after = resource.getrusage(resource.RUSAGE_SELF)
        if set(codes) != {202}:
            raise SystemExit(f"{source}: answers {sorted(set(codes))}, expected only 202")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, cpu / len(codes) * 1e6)
    return best


def child(tree: Path, rounds: int, deliver: bool) -> None:
    import uvloop

    work = Path(tempfile.mkdtemp(prefix="signalbox-hotpath-"))
    sink = None
    if deliver:
        port = free_port()
        sink = start_sink(work, port)
        (work / "routes.yaml").write_text(sink_routes(port))
    else:
        (work / "routes.yaml").write_text("routes: []\n")

    def arrivals() -> int:
        with urllib.request.urlopen(f"http://{HOST}:{port}/count", timeout=5) as answer:
            count: int = json.load(answer)["arrivals"]
            return count

    # JSON lines go to a file, as the ingest benchmark's server writes them.
    sys.stderr = open(work / "signalbox.log", "w")  # noqa: SIM115 - lives as long as the process
    server = signalbox_app(work / "routes.yaml", work / "data", src=tree)

    async def run() -> dict[str, float]:
        async with server.router.lifespan_context(server):
            if deliver:
                return {
                    "alert delivered": await _measure(
                        server, "alertmanager", _alert_requests(), rounds, arrivals
                    )
                }
            return {
                source: await _measure(server, source, _fixture_requests(source), rounds, None)
                for source in BODIES
            }

    # Full collections pause everything in flight; time them (the profile cannot: their
    # time is charged to whatever allocated).
    full_gc_ms: list[float] = []
    began = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                full_gc_ms.append((time.perf_counter() - began[0]) * 1000)

    gc.callbacks.append(timed)
    try:
        cpu = uvloop.run(run())
        print(json.dumps({"cpu": cpu, "full_gc_ms": full_gc_ms}), flush=True)
    finally:
        if sink is not None:
            sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git revision to compare against, runs interleaved")
    parser.add_argument("--runs", type=int, default=3, help="processes per tree (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per process")
    parser.add_argument("--deliver", action="store_true", help="route alerts to a sink")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.rounds, args.deliver)
        return

    trees = {"this tree": SRC}
    if args.base:
        trees = {args.base: export_tree(args.base), **trees}
    best: dict[str, dict[str, float]] = {name: {} for name in trees}
    full_gc: dict[str, list[float]] = {name: [] for name in trees}
    print(f"# hot path — {machine_note()}", file=sys.stderr)
    for run in range(args.runs):
        for name, tree in trees.items():
            print(f"[bench] run {run + 1}/{args.runs}: {name}", file=sys.stderr, flush=True)
            cmd = [PYTHON, __file__, "--child", str(tree), "--rounds", str(args.rounds)]
            if args.deliver:
                cmd.append("--deliver")
            out = subprocess.run(pinned(cmd, SERVER_CPU), check=True, capture_output=True)
            answer = json.loads(out.stdout)
            for source, cpu in answer["cpu"].items():
                best[name][source] = min(cpu, best[name].get(source, float("inf")))
            full_gc[name] += answer["full_gc_ms"]
    names = list(trees)
    headers = ["endpoint", *(f"{n} µs/req" for n in names)]
    if args.base:
        headers.append("÷ base")
    rows: list[list[object]] = []
    for source in best[names[-1]]:
        row: list[object] = [source, *(f"{best[n][source]:.0f}" for n in names)]
        if args.base:
            row.append(f"{best[names[1]][source] / best[names[0]][source]:.2f}")
        rows.append(row)
    print(table(headers, rows))
    print(
        f"\nCPU (user + system, all threads) per POST, least of {args.runs} processes × "
        f"{args.rounds} rounds of {IN_FLIGHT}×{PER_CLIENT} requests; "
        + ("each alert routed to the sink." if args.deliver else "no routes.")
    )
    for name, pauses in full_gc.items():
        if pauses:
            pauses.sort()
            print(
                f"{name}: {len(pauses)} full GC collections, median "
                f"{pauses[len(pauses) // 2]:.1f} ms, longest {pauses[-1]:.1f} ms"
            )


if __name__ == "__main__":
    main()
