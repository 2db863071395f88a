"""Routing cost per event with 10, 100 and 1,000 routes.

Run: .venv/bin/python bench/bench_routing.py

Routes look like a real file: per-project pipeline routes with a regex on status and a
numeric streak check, a few alert routes, nested refinements; events carry the labels the
sources produce. Half the events match a route somewhere in the list, half fall through
to the fallback (the worst case: every route is tried).
"""

from __future__ import annotations

import random
import time

from app.routing.config import RoutingConfig, parse_config


def make_config(n_routes: int) -> RoutingConfig:
    lines = ["channels:", "  team: { type: log }", "  all: { type: log }", "routes:"]
    for i in range(n_routes):
        if i % 10 == 9:
            lines.append(
                f"  - {{ matchers: ['source=\"alertmanager\"', 'alertname=\"Alert{i}\"', "
                f"'severity=~\"critical|warning\"'], to: [team], group_by: [cluster] }}"
            )
            continue
        lines += [
            f"  - matchers: ['kind=\"pipeline\"', 'project=\"org/repo-{i}\"']",
            "    to: [team]",
            "    routes:",
            "      - { matchers: ['branch=~\"main|release/.*\"', 'failure_streak>=2'], to: [all] }",
            "      - { matchers: ['status!~\"success|skipped\"'], to: [team], continue: true }",
        ]
    lines.append("fallback: [all]")
    return parse_config("\n".join(lines).encode(), "bench.yaml", env={})


def make_events(n_routes: int, count: int) -> list[dict[str, str]]:
    rng = random.Random(42)
    events = []
    for k in range(count):
        project = rng.randrange(n_routes) if k % 2 == 0 else n_routes + k  # half unmatched
        events.append(
            {
                "source": "github",
                "kind": "pipeline",
                "status": rng.choice(["success", "failure", "running"]),
                "project": f"org/repo-{project}",
                "pipeline": "ci",
                "branch": rng.choice(["main", "feature/x", "release/1.2"]),
                "actor": "octocat",
                "commit": f"{rng.getrandbits(160):040x}",
                "transition": rng.choice(["broken", "fixed", "unchanged"]),
                "failure_streak": str(rng.randrange(4)),
                "github_event": "workflow_run",
            }
        )
    return events


def bench(n_routes: int, count: int = 2_000) -> tuple[float, float, float]:
    config = make_config(n_routes)
    events = make_events(n_routes, count)
    timings = []
    for labels in events:
        start = time.perf_counter()
        config.decide(labels)
        timings.append(time.perf_counter() - start)
    timings.sort()
    mean = sum(timings) / len(timings)
    return mean * 1e6, timings[len(timings) // 2] * 1e6, timings[int(len(timings) * 0.99)] * 1e6


def main() -> None:
    print(f"{'routes':>7} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} {'µs/route':>9}")
    for n in (10, 100, 1_000):
        bench(n, 200)  # warm-up
        mean, p50, p99 = bench(n)
        print(f"{n:>7} {mean:>9.1f} {p50:>9.1f} {p99:>9.1f} {mean / n:>9.3f}")


if __name__ == "__main__":
    main()
