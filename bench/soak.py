"""Soak: Signalbox's RSS over a long steady load (default 10 minutes at 200 events/s).

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 200] [--interval 10]

The end-to-end setup of e2e.py (one alert per POST /hooks/alertmanager, a route with
group_wait 0s and dedup_window 0s to a `webhook` channel at a local sink, durable
SQLite). VmRSS of the server is sampled every --interval seconds; the report gives the
first, last and largest sample, the least-squares slope in MB per minute, and at the end
the delivery figures (latency, missing, duplicates) of the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import threading
import time
import uuid

from common import (
    SRC,
    free_port,
    machine_note,
    pin_self,
    sink_routes,
    start_signalbox,
    start_sink,
    table,
    workdir,
)
from loadgen import analyse, drain, fixed_rate, signalbox_request


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return float("nan")
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return 60 * cov / var if var else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    pin_self()
    print(
        f"# soak — {machine_note()}; Signalbox from {SRC}; "
        f"{args.minutes:g} min at {args.rate:g} events/s"
    )
    work = workdir("soak")
    sink_port = free_port()
    sink = start_sink(work, sink_port)
    port = free_port()
    server = start_signalbox(work, sink_routes(sink_port, 'source="alertmanager"'), port)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def sample() -> None:
        while True:
            samples.append((time.monotonic() - t0, server.rss_mb()))
            print(
                f"[bench] {samples[-1][0]:6.0f} s  RSS {samples[-1][1]:6.1f} MB",
                file=sys.stderr,
                flush=True,
            )
            if stop.wait(args.interval):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        run = uuid.uuid4().hex[:8]
        ids = [f"{run}-{i}" for i in range(int(args.rate * args.minutes * 60))]
        sampler.start()
        sent = asyncio.run(
            fixed_rate([port], signalbox_request(port, run), ids, args.rate, concurrency=64)
        )
        arrivals = drain(sink_port, len(sent.ok), 60)
        stop.set()
        sampler.join()
        samples.append((time.monotonic() - t0, server.rss_mb()))
        result = analyse(sent, arrivals, from_due=True)
        peak = server.peak_rss_mb()[0]
        db_mb = sum(f.stat().st_size for f in (work / "data").glob("*")) / 2**20
    finally:
        stop.set()
        server.stop()
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)
    rss = [m for _, m in samples]
    print(
        table(
            ["samples", "first MB", "last MB", "max MB", "slope MB/min", "VmHWM MB", "db MB"],
            [[len(rss), rss[0], rss[-1], max(rss), slope_per_minute(samples), peak, db_mb]],
        )
    )
    print()
    print(
        table(
            ["sent/s", "accepted", "delivered", "p50 ms", "p99 ms", "max ms", "missing", "dups"],
            [
                [
                    result["send_rate"],
                    int(result["accepted"]),
                    int(result["delivered"]),
                    result["p50_ms"],
                    result["p99_ms"],
                    result["max_ms"],
                    int(result["missing"]),
                    int(result["duplicates"]),
                ]
            ],
        )
    )
    print("\nRSS samples (s, MB): " + ", ".join(f"{t:.0f}:{m:.1f}" for t, m in samples))


if __name__ == "__main__":
    main()
