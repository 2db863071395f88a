"""Ingest: requests/s and latency of POST /hooks/* beside a bare FastAPI endpoint.

    .venv/bin/python bench/ingest.py [--rounds 3] [--duration 5] [--connections 64]
                                     [--stores sqlite,postgres] [--deliver]
                                     [--with-access-log] [--profile DIR]

wrk (-t1 -c64 --latency, Lua script) posts real fixture bodies from
tests/payloads: Alertmanager `firing.multi.v4_fingerprint.json` (2 alerts, so 2
events per request) and GitHub `workflow_run.completed.failure.json` with
X-GitHub-Event: workflow_run and an X-GitHub-Delivery that changes on every request
(a repeated one would be answered 200 "duplicate"). No source secret or token is
configured, so no signature is checked (HMAC-SHA256 of a 20 kB body costs ~20 µs).

Signalbox runs with durable storage — SQLite (WAL, synchronous=FULL, group commit) and
PostgreSQL (a throwaway server, fsync on, synchronous_commit on, group commit; on the
server core with Signalbox), one Signalbox server for each of --stores — and a
routes.yaml with no routes and no fallback: every event is verified, parsed, stored and
routed (to nothing). --deliver routes every event to a `webhook` channel pointing at a
local sink instead, so delivery shares the core with ingest.
The baseline is a FastAPI app whose endpoint only json.loads the body, served the same
way (bench/serve.py: uvicorn, loop/http auto = uvloop + httptools, one process, access
log off). Both servers run side by side (one loaded at a time) and take turns, round
after round; each run is preceded by a warm-up (2 s in the first round, 1 s after).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from common import (
    CLIENT_CPU,
    FIXTURES,
    SRC,
    Child,
    Signalbox,
    free_port,
    machine_note,
    need_tool,
    pin_self,
    pinned,
    postgres,
    sink_routes,
    start_bare,
    start_signalbox,
    start_sink,
    table,
    workdir,
)
from profiling import Profiler

ENDPOINTS: dict[str, tuple[str, Path, dict[str, str]]] = {
    "alertmanager": (
        "/hooks/alertmanager",
        FIXTURES / "alertmanager" / "firing.multi.v4_fingerprint.json",
        {},
    ),
    "github": (
        "/hooks/github",
        FIXTURES / "github" / "workflow_run.completed.failure.json",
        {"X-GitHub-Event": "workflow_run"},
    ),
}

NO_ROUTES = "routes: []\n"

LUA = """\
wrk.method = "POST"
wrk.path = "{path}"
wrk.headers["Content-Type"] = "application/json"
{headers}
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()

local threads = {{}}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  statuses = {{}}
end

function request()
  n = n + 1
  wrk.headers["X-GitHub-Delivery"] = "{run}-" .. tid .. "-" .. n
  return wrk.format()
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f p50_us=%d p99_us=%d max_us=%d errors=%d\\n",
    summary.requests, s, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do
      io.write(string.format("STATUS %d %d\\n", status, count))
    end
  end
end
"""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    statuses: dict[int, int]


def run_wrk(port: int, endpoint: str, seconds: float, connections: int, work: Path) -> WrkResult:
    path, body, headers = ENDPOINTS[endpoint]
    script = work / f"{endpoint}.lua"
    script.write_text(
        LUA.format(
            path=path,
            body=body,
            run=uuid.uuid4().hex[:8],
            headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
        ),
        encoding="utf-8",
    )
    cmd = [
        need_tool("wrk"),
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(
        pinned(cmd, CLIENT_CPU), capture_output=True, text=True, timeout=seconds + 60
    )
    m = re.search(
        r"BENCH requests=(\d+) seconds=([\d.]+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+) "
        r"errors=(\d+)",
        out.stdout,
    )
    if m is None:
        raise RuntimeError(f"wrk said:\n{out.stdout}\n{out.stderr}")
    requests, secs, p50, p99, top, errors = m.groups()
    statuses = {int(s): int(n) for s, n in re.findall(r"STATUS (\d+) (\d+)", out.stdout)}
    return WrkResult(
        rps=int(requests) / float(secs),
        p50_ms=int(p50) / 1000,
        p99_ms=int(p99) / 1000,
        max_ms=int(top) / 1000,
        errors=int(errors),
        statuses=statuses,
    )


def bench_round(
    servers: dict[str, tuple[Child | Signalbox, int]],
    results: dict[str, dict[str, list[WrkResult]]],
    first: bool,
    args: argparse.Namespace,
    work: Path,
) -> None:
    """One wrk run per server and endpoint, the servers taking turns."""
    for endpoint in ENDPOINTS:
        for name, (server, port) in servers.items():
            print(f"[bench] {name} {endpoint} ...", file=sys.stderr, flush=True)
            run_wrk(port, endpoint, 2 if first else 1, args.connections, work)  # warm-up
            profiler = None
            if first and args.profile is not None and name.startswith("Signalbox"):
                slug = name.split(" ", 1)[1].replace(" ", "").replace("+", "-")
                profiler = Profiler(server.pid, args.profile / f"ingest-{slug}-{endpoint}")
            result = run_wrk(port, endpoint, args.duration, args.connections, work)
            if profiler is not None:
                profiler.stop()
            results[name][endpoint].append(result)


def _peak(server: Child | Signalbox) -> float:
    if isinstance(server, Signalbox):
        return sum(server.peak_rss_mb())
    return server.peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs per server and endpoint, taking turns"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--stores",
        type=lambda text: [s for s in text.split(",") if s],
        default=["sqlite", "postgres"],
        help="a Signalbox server on each: sqlite, postgres (default both)",
    )
    parser.add_argument("--deliver", action="store_true", help="route events to a local sink")
    parser.add_argument(
        "--with-access-log",
        action="store_true",
        help="also run Signalbox with uvicorn's access log on, as `signalbox serve` has it",
    )
    parser.add_argument("--profile", type=Path, help="record py-spy profiles into this folder")
    args = parser.parse_args()
    if not set(args.stores) <= {"sqlite", "postgres"}:
        parser.error(f"--stores: sqlite, postgres (not {','.join(args.stores)})")
    need_tool("wrk")
    pin_self()
    print(f"# ingest — {machine_note()}; Signalbox from {SRC}")
    work = workdir("ingest")
    sink: Child | None = None
    servers: dict[str, tuple[Child | Signalbox, int]] = {}
    results: dict[str, dict[str, list[WrkResult]]] = {}
    peak: dict[str, float] = {}
    began = time.monotonic()
    stack = contextlib.ExitStack()
    try:
        pg = stack.enter_context(postgres()) if "postgres" in args.stores else None
        routes = NO_ROUTES
        if args.deliver:
            sink_port = free_port()
            sink = start_sink(work, sink_port)
            routes = sink_routes(sink_port)
        port = free_port()
        servers["bare FastAPI"] = (start_bare(work, port), port)
        variants = [(store, False) for store in args.stores]
        if args.with_access_log:
            variants += [(store, True) for store in args.stores]
        for store, access_log in variants:
            name = f"Signalbox {'PostgreSQL' if store == 'postgres' else 'SQLite'}"
            name += " +access log" if access_log else ""
            port = free_port()
            data = work / name.replace(" ", "_").replace("+", "")
            data.mkdir()
            url = pg.database() if pg is not None and store == "postgres" else None
            servers[name] = (
                start_signalbox(data, routes, port, access_log=access_log, database_url=url),
                port,
            )
        results = {name: {endpoint: [] for endpoint in ENDPOINTS} for name in servers}
        for n in range(args.rounds):
            bench_round(servers, results, n == 0, args, work)
        peak = {name: _peak(server) for name, (server, _) in servers.items()}
    finally:
        for server, _ in servers.values():
            server.stop()
        if sink is not None:
            sink.stop()
        stack.close()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for name, by_endpoint in results.items():
        for endpoint, runs in by_endpoint.items():
            bare = results["bare FastAPI"][endpoint]
            # Each run against the bare run of its own round: the machine drifts.
            ratios = sorted(r.rps / b.rps for r, b in zip(runs, bare, strict=True))
            statuses: dict[int, int] = {}
            for r in runs:
                for status, count in r.statuses.items():
                    statuses[status] = statuses.get(status, 0) + count
            errors = sum(r.errors for r in runs)
            answers = ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
            rows.append(
                [
                    name,
                    endpoint,
                    median([r.rps for r in runs]),
                    f"{median(ratios):.2f}"
                    + (f" ({ratios[0]:.2f}–{ratios[-1]:.2f})" if len(ratios) > 1 else ""),
                    median([r.p50_ms for r in runs]),
                    median([r.p99_ms for r in runs]),
                    max(r.max_ms for r in runs),
                    answers + (f", {errors} socket errors" if errors else ""),
                    peak.get(name, 0.0),
                ]
            )
    print(
        table(
            [
                "server",
                "endpoint",
                "req/s",
                "÷ bare (range)",
                "p50 ms",
                "p99 ms",
                "max ms",
                "answers",
                "peak RSS MB",
            ],
            rows,
        )
    )
    routed = (
        "all events to a local webhook sink"
        if args.deliver
        else "none (events stored, routed to nothing)"
    )
    print(
        f"\nMedians of {args.rounds} rounds, servers taking turns; wrk -t1 "
        f"-c{args.connections} -d{args.duration:g}s per run; ÷ bare compares each run with "
        f"the bare run of its round; routes: {routed}. Took {time.monotonic() - began:.0f} s."
    )


if __name__ == "__main__":
    main()
