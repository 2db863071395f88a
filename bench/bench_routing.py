"""Routing cost per event with 10, 100 and 1,000 routes; optionally RE2 against `re`, and
the cost of loading (reloading) a config.

Run: .venv/bin/python bench/bench_routing.py [--engines] [--reload]

Routes look like a real file: per-project pipeline routes with a regex on status and a
numeric streak check, a few alert routes, nested refinements; events carry the labels the
sources produce. Half the events match a route somewhere in the list, half fall through
to the fallback (the worst case: every route is tried).

--engines routes the same events through the same trees with matcher regexes on RE2
(what Signalbox runs) and on Python's backtracking `re` (what it ran before), taking
turns, and prints the ratio; a second tree puts a regex first in every route, the case
where the regex engine's cost shows most.

--reload times `parse_config` (what `signalbox check` and every reload run, template
rendering on sample events included) on the repository's routes.yaml and on a file of
50 routes with their own templates.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from app.routing import matchers
from app.routing.config import RoutingConfig, parse_config

REPO = Path(__file__).resolve().parent.parent


def make_config(n_routes: int, regex_first: bool = False) -> RoutingConfig:
    lines = ["channels:", "  team: { type: log }", "  all: { type: log }", "routes:"]
    for i in range(n_routes):
        if i % 10 == 9:
            lines.append(
                f"  - {{ matchers: ['source=\"alertmanager\"', 'alertname=\"Alert{i}\"', "
                f"'severity=~\"critical|warning\"'], to: [team], group_by: [cluster] }}"
            )
            continue
        project = (
            f"'project=~\"org/repo-{i}(/.*)?\"'" if regex_first else f"'project=\"org/repo-{i}\"'"
        )
        lines += [
            f"  - matchers: [{project}, 'kind=\"pipeline\"']",
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


def bench(config: RoutingConfig, events: list[dict[str, str]]) -> tuple[float, float, float]:
    timings = []
    for labels in events:
        start = time.perf_counter()
        config.decide(labels)
        timings.append(time.perf_counter() - start)
    timings.sort()
    mean = sum(timings) / len(timings)
    return mean * 1e6, timings[len(timings) // 2] * 1e6, timings[int(len(timings) * 0.99)] * 1e6


class BacktrackingRegex:
    """The engine matchers used before RE2: Python's `re`, same whole-value contract."""

    def __init__(self, pattern: str) -> None:
        self._pattern = re.compile(pattern)

    def fullmatch(self, value: str) -> bool:
        return self._pattern.fullmatch(value) is not None


def with_backtracking(build: Callable[[], RoutingConfig]) -> RoutingConfig:
    """`build()` with matchers compiled by Python's `re` (bench only)."""
    original = matchers.Regex
    matchers.Regex = BacktrackingRegex  # type: ignore[assignment,misc]
    try:
        return build()
    finally:
        matchers.Regex = original  # type: ignore[misc]


def sizes() -> None:
    print(f"{'routes':>7} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} {'µs/route':>9}")
    for n in (10, 100, 1_000):
        config, events = make_config(n), make_events(n, 2_000)
        bench(config, events[:200])  # warm-up
        mean, p50, p99 = bench(config, events)
        print(f"{n:>7} {mean:>9.1f} {p50:>9.1f} {p99:>9.1f} {mean / n:>9.3f}")


def engines(rounds: int = 5) -> None:
    print(f"\n{'tree':<13} {'routes':>7} {'RE2 µs':>9} {'re µs':>9} {'RE2 ÷ re':>9}")
    for regex_first in (False, True):
        for n in (10, 100, 1_000):
            events = make_events(n, 2_000)
            re2_tree = make_config(n, regex_first)
            re_tree = with_backtracking(lambda: make_config(n, regex_first))  # noqa: B023
            means: dict[str, list[float]] = {"re2": [], "re": []}
            for _ in range(rounds):  # taking turns, so drift hits both alike
                for name, tree in (("re2", re2_tree), ("re", re_tree)):
                    bench(tree, events[:200])
                    means[name].append(bench(tree, events)[0])
            re2, backtracking = statistics.median(means["re2"]), statistics.median(means["re"])
            label = "regex first" if regex_first else "bench config"
            print(f"{label:<13} {n:>7} {re2:>9.1f} {backtracking:>9.1f} {re2 / backtracking:>9.2f}")


def templated_routes(count: int) -> bytes:
    lines = [
        "channels:",
        "  ops: { type: slack, url: https://hooks.slack.com/services/T0/B0/x }",
        "  mail: { type: email, host: mx.example.com, from: sb@example.com, to: [a@example.com] }",
        "  ding: { type: dingtalk, url: 'https://oapi.dingtalk.com/robot/send?access_token=t' }",
        "routes:",
    ]
    for i in range(count):
        lines += [
            f"  - matchers: ['project=\"org/repo-{i}\"']",
            "    to: [ops, mail, ding]",
            f"    template: '#{i} {{{{ title }}}}: {{% for e in events %}}"
            "{{ e.labels.status }} {{ e.summary }} {% endfor %}'",
        ]
    return "\n".join(lines).encode()


def reload_cost(rounds: int = 5) -> None:
    print(f"\n{'file':<28} {'routes':>7} {'parse_config ms (median of 5)':>30}")
    files = {
        "routes.yaml": (REPO / "routes.yaml").read_bytes(),
        "50 templated routes": templated_routes(50),
    }
    for name, raw in files.items():
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            config = parse_config(raw, name, env={})
            times.append((time.perf_counter() - start) * 1e3)
        print(f"{name:<28} {len(config.routes()):>7} {statistics.median(times):>30.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engines", action="store_true", help="RE2 against Python's re")
    parser.add_argument("--reload", action="store_true", help="time loading a config")
    args = parser.parse_args()
    sizes()
    if args.engines:
        engines()
    if args.reload:
        reload_cost()


if __name__ == "__main__":
    main()
