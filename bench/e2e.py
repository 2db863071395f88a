"""End-to-end: alerts POSTed in, how many reach the sink, how fast, how many lost or doubled.

    .venv/bin/python bench/e2e.py [--targets sqlite,postgres,postgres:2,alertmanager]
                                  [--scenario burst|500|2000|all] [--rounds 3]
                                  [--receivers 1] [--duration 10] [--unpinned]
                                  [--profile DIR]

Targets (each run on a freshly started server, a fresh database and a fresh sink, after
a 200-alert warm-up; the targets take turns, round after round):
  sqlite        Signalbox, one process, SQLite (WAL, synchronous=FULL)
  postgres[:N]  Signalbox on PostgreSQL (fsync on, synchronous_commit on), N processes
                (default 1), each a replica: `--workers N` when the tree has it, else
                N processes on N ports taken in turn by the load generator
  alertmanager  Debian's prometheus-alertmanager (clustering off)
Pinned (default), every server — PostgreSQL too — shares core 0 and Alertmanager runs
with GOMAXPROCS=1; the load generator and the sink run on core 1. --unpinned pins
nothing and leaves GOMAXPROCS to Go (every core); its default targets are Signalbox on
PostgreSQL with one process per core, and Alertmanager.

Scenarios:
  burst  5,000 distinct alerts at concurrency 64, as fast as answered
  500    500 alerts/s for 10 s (--duration; concurrency cap 64)
  2000   2,000 alerts/s for 10 s (--duration; concurrency cap 64)

Signalbox: POST /hooks/alertmanager (webhook v4, one alert each, no token configured),
one route with group_wait 0s and dedup_window 0s to a `webhook` channel with
rate_limit 100000/1s pointing at the sink (--receivers K: K such channels, alerts shared
out among them by a `shard` label, so K receivers can be owned by different replicas).
Alertmanager: POST /api/v2/alerts, group_by ['...'], group_wait 0s, group_interval 1s, a
webhook receiver pointing at the sink. Each alert carries a unique `bench_id` label;
latency is POST (due time, for fixed rates) to the alert's first arrival at the sink.
CPU: user + system seconds each server process (PostgreSQL: all its processes) spent
from the first measured POST to the end of the drain, per alert delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import (
    SRC,
    Child,
    Signalbox,
    alertmanager_version,
    cpu_seconds,
    free_port,
    machine_note,
    need_tool,
    pg_counters,
    pin_self,
    postgres,
    postgres_pids,
    pss_mb,
    sink_routes,
    start_alertmanager,
    start_signalbox,
    start_sink,
    status_kb,
    supports_workers,
    table,
    unpin,
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

if TYPE_CHECKING:
    from pgserver import PgServer

CONCURRENCY = 64
WARMUP = 200
# scenario -> (alerts/s or None for a burst, seconds or alert count)
SCENARIOS: dict[str, tuple[float | None, int]] = {
    "burst": (None, 5000),
    "500": (500.0, 10),
    "2000": (2000.0, 10),
}
BASELINE = "alertmanager"
# Seconds for PostgreSQL's backends to report what they did (pg_counters).
PG_STATS_DELAY = 2.5


@dataclass(frozen=True)
class Target:
    spec: str  # as given on the command line
    store: str  # sqlite, postgres or alertmanager
    processes: int = 1

    @property
    def name(self) -> str:
        if self.store == "alertmanager":
            return "Alertmanager"
        if self.store == "sqlite":
            return "Signalbox SQLite"
        return f"Signalbox PostgreSQL ×{self.processes}"


def parse_target(spec: str) -> Target:
    store, _, count = spec.partition(":")
    if store not in ("sqlite", "postgres", "alertmanager"):
        raise argparse.ArgumentTypeError(f"unknown target {spec!r}")
    processes = int(count) if count else 1
    if processes > 1 and store != "postgres":
        raise argparse.ArgumentTypeError(f"{spec}: only postgres runs several processes")
    return Target(spec, store, processes)


@dataclass
class Running:
    """A started target: what to post to, the processes to watch."""

    ports: list[int]
    pids: list[int]
    stop: Any
    signalbox: Signalbox | None = None
    database: str | None = None


def start_target(
    target: Target, work: Path, sink_port: int, pg: PgServer | None, receivers: int
) -> Running:
    port = free_port()
    if target.store == "alertmanager":
        am: Child = start_alertmanager(work, port, sink_port)
        return Running([port], [am.pid], am.stop)
    database = None
    if target.store == "postgres":
        assert pg is not None
        database = pg.database()
    routes = sink_routes(sink_port, 'source="alertmanager"', receivers)
    server = start_signalbox(work, routes, port, database_url=database, processes=target.processes)
    return Running(server.ports, server.pids(), server.stop, server, database)


def request_maker(target: Target, port: int, run: str, shards: int) -> MakeRequest:
    if target.store == "alertmanager":
        return alertmanager_request(port, run, shards)
    return signalbox_request(port, run, shards)


class CpuMeter:
    """CPU seconds spent by the target's processes and PostgreSQL's between start and stop."""

    def __init__(self, pids: list[int], pg: PgServer | None) -> None:
        self.pids = pids
        self.pg = pg
        self.before = self._sample()

    def _sample(self) -> tuple[list[float], dict[int, float]]:
        pg = {pid: cpu_seconds(pid) for pid in postgres_pids(self.pg)} if self.pg else {}
        return [cpu_seconds(pid) for pid in self.pids], pg

    def stop(self) -> tuple[list[float], float]:
        """(seconds per target process, seconds of PostgreSQL in all)."""
        mine, pg = self._sample()
        spent = [after - before for after, before in zip(mine, self.before[0], strict=True)]
        # A backend started meanwhile counts from zero.
        pg_spent = sum(t - self.before[1].get(pid, 0.0) for pid, t in pg.items())
        return spent, pg_spent


def run_one(
    target: Target,
    scenario: str,
    pg: PgServer | None,
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    rate, size = SCENARIOS[scenario]
    work = workdir(f"e2e-{target.spec.replace(':', 'x')}-{scenario}")
    sink_port = free_port()
    sink = start_sink(work, sink_port)
    running: Running | None = None
    profilers: list[Profiler] = []
    try:
        running = start_target(target, work, sink_port, pg, args.receivers)
        ports = running.ports
        run = uuid.uuid4().hex[:8]
        make = request_maker(target, ports[0], run, args.receivers)
        warm = [f"warm{run}-{i}" for i in range(WARMUP)]
        asyncio.run(burst(ports, make, warm, CONCURRENCY))
        drain(sink_port, WARMUP, 20, quiet=2.0)
        _reset(sink_port)
        seconds = args.duration if args.duration is not None else size
        ids = [f"{run}-{i}" for i in range(size if rate is None else int(rate * seconds))]
        if args.profile is not None and running.signalbox is not None:
            profilers = [
                Profiler(pid, args.profile / f"e2e-{target.spec.replace(':', 'x')}-{tag}-p{n}")
                for n, pid in enumerate(running.pids)
            ]
        on_pg = pg if running.database is not None else None
        if on_pg is not None:
            # Until the warm-up's statistics are reported (see pg_counters).
            time.sleep(PG_STATS_DELAY)
        pg_before = pg_counters(on_pg) if on_pg is not None else {}
        meter = CpuMeter(running.pids, on_pg)
        sink_before = cpu_seconds(sink.pid)
        client_before = _own_cpu()
        if rate is None:
            sent = asyncio.run(burst(ports, make, ids, CONCURRENCY))
        else:
            sent = asyncio.run(fixed_rate(ports, make, ids, rate, CONCURRENCY))
        arrivals = drain(sink_port, len(sent.ok), args.drain_timeout)
        cpu, pg_cpu = meter.stop()
        client_cpu = _own_cpu() - client_before + cpu_seconds(sink.pid) - sink_before
        for profiler in profilers:
            profiler.stop()
        result: dict[str, Any] = analyse(sent, arrivals, from_due=rate is not None)
        # What went wrong, by kind: an exception's name, or a status that is not 2xx.
        result["failures"] = dict(sent.errors) | {
            str(code): n for code, n in sent.statuses.items() if not 200 <= code < 300
        }
        if running.signalbox is not None:
            result["peak_rss_mb"] = running.signalbox.peak_rss_mb()
        else:
            result["peak_rss_mb"] = [_peak(pid) for pid in running.pids]
        in_pg = postgres_pids(pg) if pg is not None and running.database else []
        result["pg_pss_mb"] = sum(pss_mb(pid) for pid in in_pg)
        result["cpu_s"] = cpu
        result["pg_cpu_s"] = pg_cpu
        result["client_cpu_s"] = client_cpu
        # The measured stretch: from the first POST to the last first arrival.
        result["span_s"] = result["delivered"] / max(result["delivered_per_s"], 1e-9)
        if on_pg is not None:
            # Stopped, its backends have reported everything they did.
            running.stop()
            after = pg_counters(on_pg)
            for key, value in after.items():
                result[f"pg_{key}"] = value - pg_before[key]
        return result
    finally:
        for profiler in profilers:
            profiler.stop()
        if running is not None:
            running.stop()
            if running.database is not None and pg is not None:
                pg.drop(running.database)
        sink.stop()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"[bench] kept {work}", file=sys.stderr)


def _peak(pid: int) -> float:
    return status_kb(pid, "VmHWM") / 1024


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _reset(sink_port: int) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{sink_port}/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10):
        pass


# --- the report --------------------------------------------------------------------------


def _spread(values: Sequence[float], digits: int = 0) -> str:
    """Median, and the range in brackets when there are several values."""
    fmt = f"{{:,.{digits}f}}"
    if not values or any(v != v for v in values):
        return "-"
    mid = fmt.format(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def _ratio(values: Sequence[float]) -> str:
    return _spread(values, 2)


def _rss(runs: list[dict[str, Any]]) -> str:
    """Largest peak RSS per process over the runs, MB: "97" or "96 + 94"."""
    per_process = [
        max(r["peak_rss_mb"][i] for r in runs) for i in range(len(runs[0]["peak_rss_mb"]))
    ]
    return " + ".join(f"{mb:.0f}" for mb in per_process)


def report(
    targets: list[Target],
    scenarios: list[str],
    results: dict[tuple[Target, str], list[dict[str, Any]]],
    args: argparse.Namespace,
) -> None:
    rows = []
    for scenario in scenarios:
        for target in targets:
            runs = results[target, scenario]
            pg_mb = max(r["pg_pss_mb"] for r in runs)
            rows.append(
                [
                    target.name,
                    scenario,
                    _spread([r["send_rate"] for r in runs]),
                    f"{sum(int(r['delivered']) for r in runs)}/"
                    f"{sum(int(r['accepted']) for r in runs)}",
                    _spread([r["delivered_per_s"] for r in runs]),
                    _spread([r["p50_ms"] for r in runs], 1),
                    _spread([r["p99_ms"] for r in runs], 1),
                    _spread([r["max_ms"] for r in runs]),
                    _spread([r["answer_p99_ms"] for r in runs], 1),
                    sum(int(r["missing"]) for r in runs),
                    sum(int(r["duplicates"]) for r in runs),
                    sum(int(r["errors"] + r["refused"]) for r in runs),
                    _rss(runs) + (f" (+ PostgreSQL {pg_mb:.0f})" if pg_mb else ""),
                ]
            )
    print(
        table(
            [
                "target",
                "scenario",
                "sent/s",
                "delivered/accepted",
                "delivered/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "POST p99 ms",
                "missing",
                "dups",
                "errors",
                "peak RSS MB per process",
            ],
            rows,
        )
    )
    print()
    print(cpu_table(targets, scenarios, results))
    ours = [t for t in targets if t.store != BASELINE]
    baseline = next((t for t in targets if t.store == BASELINE), None)
    if baseline is not None and ours:
        print()
        print(ratio_table(ours, baseline, scenarios, results))
    rounds = len(next(iter(results.values())))
    print(
        f"\nMedian (range) of {rounds} round(s), the targets taking turns; ratios are taken "
        "within a round (same minutes) and their median and range given. missing = accepted "
        f"but not at the sink {args.drain_timeout:g} s after the last send; dups = arrivals "
        "beyond the first (both summed over all rounds); latency from the POST (its due time "
        "at fixed rates) to the first arrival. Peak RSS: VmHWM of each serving process, the "
        "largest over the rounds; PostgreSQL: PSS of all its processes at the end of the run."
    )


def cpu_table(
    targets: list[Target],
    scenarios: list[str],
    results: dict[tuple[Target, str], list[dict[str, Any]]],
) -> str:
    """Where the cores went: CPU per alert of each process, and how busy each was."""
    rows = []
    for scenario in scenarios:
        for target in targets:
            runs = results[target, scenario]
            per_alert = [[1000 * s / max(r["delivered"], 1) for s in r["cpu_s"]] for r in runs]
            busy = [[s / max(r["span_s"], 1e-9) for s in r["cpu_s"]] for r in runs]
            processes = len(runs[0]["cpu_s"])
            pg = [1000 * r["pg_cpu_s"] / max(r["delivered"], 1) for r in runs]
            rows.append(
                [
                    target.name,
                    scenario,
                    " + ".join(_spread([p[i] for p in per_alert], 2) for i in range(processes)),
                    _spread(pg, 2) if target.store == "postgres" else "",
                    " + ".join(_spread([b[i] for b in busy], 2) for i in range(processes)),
                    _spread([r["pg_cpu_s"] / max(r["span_s"], 1e-9) for r in runs], 2)
                    if target.store == "postgres"
                    else "",
                    _spread([1000 * r["client_cpu_s"] / max(r["delivered"], 1) for r in runs], 2),
                    _per_alert(runs, "pg_commits") if target.store == "postgres" else "",
                    _per_alert(runs, "pg_wal_syncs") if target.store == "postgres" else "",
                ]
            )
    return table(
        [
            "target",
            "scenario",
            "server CPU ms/alert, per process",
            "PostgreSQL CPU ms/alert",
            "server cores busy, per process",
            "PostgreSQL cores busy",
            "load generator + sink CPU ms/alert",
            "PostgreSQL commits/alert",
            "WAL flushes/alert",
        ],
        rows,
    )


def _per_alert(runs: list[dict[str, Any]], key: str) -> str:
    return _spread([r.get(key, float("nan")) / max(r["delivered"], 1) for r in runs], 2)


def ratio_table(
    ours: list[Target],
    baseline: Target,
    scenarios: list[str],
    results: dict[tuple[Target, str], list[dict[str, Any]]],
) -> str:
    rows = []
    for scenario in scenarios:
        theirs = results[baseline, scenario]
        for target in ours:
            mine = results[target, scenario]
            pairs = list(zip(mine, theirs, strict=True))
            rows.append(
                [
                    target.name,
                    scenario,
                    _ratio([m["delivered_per_s"] / t["delivered_per_s"] for m, t in pairs]),
                    _ratio([m["p99_ms"] / t["p99_ms"] for m, t in pairs]),
                    _ratio([sum(m["peak_rss_mb"]) / sum(t["peak_rss_mb"]) for m, t in pairs]),
                ]
            )
    return table(
        [
            "target",
            "scenario",
            f"delivered/s ÷ {baseline.name}",
            f"p99 ÷ {baseline.name}",
            f"peak RSS (all processes) ÷ {baseline.name}",
        ],
        rows,
    )


# --- the run -------------------------------------------------------------------------------


def rotated(items: list[Target], by: int) -> Iterator[Target]:
    """The targets in turn, each round starting one further: none always runs first."""
    for n in range(len(items)):
        yield items[(n + by) % len(items)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--targets",
        type=lambda text: [parse_target(t) for t in text.split(",") if t],
        help="comma-separated: sqlite, postgres[:N], alertmanager (default: "
        "sqlite,postgres,postgres:2,alertmanager; unpinned: postgres:<cores>,alertmanager)",
    )
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each target (default 3)")
    parser.add_argument(
        "--receivers",
        type=int,
        default=1,
        help="webhook channels at the sink, alerts shared out among them (default 1)",
    )
    parser.add_argument(
        "--unpinned", action="store_true", help="pin nothing; Alertmanager on every core"
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of load at the fixed rates (default 10): a server that falls far "
        "behind makes the client wait, so 2,000/s for 10 s can take minutes",
    )
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
    if args.unpinned:
        unpin()
    pin_self()
    cores = os.cpu_count() or 1
    targets: list[Target] = args.targets or [
        parse_target(t)
        for t in (
            [f"postgres:{cores}", "alertmanager"]
            if args.unpinned
            else ["sqlite", "postgres", "postgres:2", "alertmanager"]
        )
    ]
    if any(t.store == "alertmanager" for t in targets):
        need_tool("prometheus-alertmanager")
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    several = any(t.processes > 1 for t in targets)
    how = (
        "serve --workers"
        if supports_workers()
        else "N processes on N ports, the load generator taking them in turn"
    )
    print(f"# end-to-end — {machine_note()}; Signalbox from {SRC}")
    if several:
        print(f"# several Signalbox processes: {how}")
    if args.receivers > 1:
        print(f"# {args.receivers} receivers at the sink, alerts shared out by a shard label")
    if args.duration is not None:
        print(f"# fixed rates held for {args.duration:g} s")
    if any(t.store == "alertmanager" for t in targets):
        gomax = "GOMAXPROCS=1" if not args.unpinned else "GOMAXPROCS unset (every core)"
        print(f"# baseline: {alertmanager_version()}, {gomax}")
    results: dict[tuple[Target, str], list[dict[str, Any]]] = {
        (t, s): [] for t in targets for s in scenarios
    }
    began = time.monotonic()
    with ExitStack() as stack:
        pg = (
            stack.enter_context(postgres()) if any(t.store == "postgres" for t in targets) else None
        )
        for n in range(args.rounds):
            for scenario in scenarios:
                for target in rotated(targets, n):
                    tag = f"{scenario}-r{n + 1}"
                    print(
                        f"[bench] round {n + 1}: {target.name} {scenario} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    r = run_one(target, scenario, pg, args, tag)
                    results[target, scenario].append(r)
                    print(
                        f"[bench] round {n + 1}: {target.name} {scenario}: "
                        f"{r['delivered']:.0f}/{r['accepted']:.0f} delivered, "
                        f"{r['delivered_per_s']:.0f}/s, p99 {r['p99_ms']:.1f} ms, "
                        f"missing {r['missing']:.0f}, dups {r['duplicates']:.0f}"
                        + (f", failed requests {r['failures']}" if r["failures"] else ""),
                        file=sys.stderr,
                        flush=True,
                    )
    report(targets, scenarios, results, args)
    load = os.getloadavg()
    print(f"Took {time.monotonic() - began:.0f} s; load average {load[0]:.2f} at the end.")


if __name__ == "__main__":
    main()
