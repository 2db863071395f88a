"""End-to-end: alerts POSTed in, how many reach the sink, how fast, how many lost or doubled.

    .venv/bin/python bench/e2e.py [--target signalbox|alertmanager|both]
                                  [--scenario burst|500|2000|all] [--profile DIR]

Scenarios, each on a freshly started server and sink (after a 200-alert warm-up):
  burst  5,000 distinct alerts at concurrency 64, as fast as answered
  500    500 alerts/s for 10 s (concurrency cap 64)
  2000   2,000 alerts/s for 10 s (concurrency cap 64)

Signalbox: POST /hooks/alertmanager (webhook v4, one alert each, no token configured),
one route with group_wait 0s and dedup_window 0s to a `webhook` channel with
rate_limit 100000/1s pointing at the sink; SQLite durable (WAL, synchronous=FULL).
Alertmanager (Debian's prometheus-alertmanager, clustering off, GOMAXPROCS=1):
POST /api/v2/alerts, group_by ['...'], group_wait 0s, group_interval 1s, a webhook
receiver pointing at the sink. Each alert carries a unique `bench_id` label; latency is
POST (due time, for fixed rates) to the alert's first arrival at the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

from common import (
    CLIENT_CPU,
    SRC,
    Child,
    alertmanager_version,
    free_port,
    machine_note,
    need_tool,
    sink_routes,
    start_alertmanager,
    start_signalbox,
    start_sink,
    table,
    workdir,
)
from loadgen import (
    MakeRequest,
    alertmanager_request,
    analyse,
    burst,
    drain,
    fixed_rate,
    signalbox_request,
)
from profiling import Profiler

CONCURRENCY = 64
WARMUP = 200
# scenario -> (alerts/s or None for a burst, seconds or alert count)
SCENARIOS: dict[str, tuple[float | None, int]] = {
    "burst": (None, 5000),
    "500": (500.0, 10),
    "2000": (2000.0, 10),
}


def start_target(target: str, work: Path, sink_port: int) -> tuple[Child, int]:
    port = free_port()
    if target == "signalbox":
        return start_signalbox(work, sink_routes(sink_port, 'source="alertmanager"'), port), port
    return start_alertmanager(work, port, sink_port), port


def request_maker(target: str, port: int, run: str) -> MakeRequest:
    if target == "signalbox":
        return signalbox_request(port, run)
    return alertmanager_request(port, run)


def run_one(
    target: str, scenario: str, drain_timeout: float, profile_dir: Path | None
) -> dict[str, float]:
    rate, size = SCENARIOS[scenario]
    work = workdir(f"e2e-{target}-{scenario}")
    sink_port = free_port()
    sink = start_sink(work, sink_port)
    server, port = start_target(target, work, sink_port)
    run = uuid.uuid4().hex[:8]
    make = request_maker(target, port, run)
    profiler: Profiler | None = None
    try:
        warm = [f"warm-{run}-{i}" for i in range(WARMUP)]
        asyncio.run(burst(port, make, warm, CONCURRENCY))
        drain(sink_port, WARMUP, 20, quiet=2.0)
        _reset(sink_port)
        ids = [f"{run}-{i}" for i in range(size if rate is None else int(rate * size))]
        if profile_dir is not None and target == "signalbox":
            profiler = Profiler(server.pid, profile_dir / f"e2e-{scenario}")
        if rate is None:
            sent = asyncio.run(burst(port, make, ids, CONCURRENCY))
        else:
            sent = asyncio.run(fixed_rate(port, make, ids, rate, CONCURRENCY))
        arrivals = drain(sink_port, len(sent.ok), drain_timeout)
        if profiler is not None:
            profiler.stop()
        result = analyse(sent, arrivals, from_due=rate is not None)
        result["peak_rss_mb"] = server.peak_rss_mb()
        return result
    finally:
        if profiler is not None:
            profiler.stop()
        server.stop()
        sink.stop()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"[bench] kept {work}", file=sys.stderr)


def _reset(sink_port: int) -> None:
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{sink_port}/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["signalbox", "alertmanager", "both"], default="both")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=20.0,
        help="seconds after the last send to wait for arrivals (default 20)",
    )
    parser.add_argument(
        "--profile", type=Path, help="record py-spy profiles of Signalbox into this folder"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    targets = ["signalbox", "alertmanager"] if args.target == "both" else [args.target]
    if "alertmanager" in targets:
        need_tool("prometheus-alertmanager")
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    print(f"# end-to-end — {machine_note()}; Signalbox from {SRC}")
    if "alertmanager" in targets:
        print(f"# baseline: {alertmanager_version()}")
    results: dict[tuple[str, str], dict[str, float]] = {}
    began = time.monotonic()
    for scenario in scenarios:
        for target in targets:
            print(f"[bench] {target} {scenario} ...", file=sys.stderr, flush=True)
            results[target, scenario] = r = run_one(
                target, scenario, args.drain_timeout, args.profile
            )
            print(
                f"[bench] {target} {scenario}: {r['delivered']:.0f} delivered, "
                f"{r['delivered_per_s']:.0f}/s, p99 {r['p99_ms']:.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    headers = [
        "target",
        "scenario",
        "sent/s",
        "accepted",
        "delivered",
        "delivered/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "POST p99 ms",
        "missing",
        "dups",
        "errors",
        "peak RSS MB",
    ]
    rows = [
        [
            target,
            scenario,
            r["send_rate"],
            int(r["accepted"]),
            int(r["delivered"]),
            r["delivered_per_s"],
            r["p50_ms"],
            r["p99_ms"],
            r["max_ms"],
            r["answer_p99_ms"],
            int(r["missing"]),
            int(r["duplicates"]),
            int(r["errors"] + r["refused"]),
            r["peak_rss_mb"],
        ]
        for (target, scenario), r in results.items()
    ]
    print(table(headers, rows))
    if len(targets) == 2:
        ratio_rows = []
        for scenario in scenarios:
            ours, theirs = results["signalbox", scenario], results["alertmanager", scenario]
            ratio_rows.append(
                [
                    scenario,
                    ours["delivered_per_s"] / theirs["delivered_per_s"],
                    ours["p99_ms"] / theirs["p99_ms"],
                    ours["peak_rss_mb"] / theirs["peak_rss_mb"],
                ]
            )
        print()
        print(
            table(
                ["scenario", "delivered/s ours÷AM", "p99 ours÷AM", "peak RSS ours÷AM"],
                [[s, f"{a:.2f}", f"{b:.2f}", f"{c:.2f}"] for s, a, b, c in ratio_rows],
            )
        )
    print(
        f"\nmissing = accepted but not at the sink {args.drain_timeout:g} s after the last send; "
        "latency from the POST (its due time at fixed rates) to the first arrival. "
        f"Took {time.monotonic() - began:.0f} s."
    )


if __name__ == "__main__":
    main()
