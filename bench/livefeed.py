"""Webhook latency with the console's live feed open 0 and N times, optionally against a
git revision, the trees' servers side by side and taking turns.

    bench/livefeed.py                        # this tree: 0 and 300 open feeds
    bench/livefeed.py --base main            # and the same against main, interleaved
    bench/livefeed.py --streams 100 --posts 200 --rounds 3

Each tree is served by its own `signalbox serve` (the tree's CLI, so its connection
handling too), pinned to the server core, with no routes (events are stored, routed to
nothing and shown in the feed). A holder process on the client core opens N
`GET /ui/feed/stream` connections and reads every row they are sent; the poster then sends
`--posts` GitHub workflow_run fixture webhooks one after the other on one keep-alive
connection (a new X-GitHub-Delivery each), timing each from send to answer. A webhook's
answer goes out before the feed rows are built, so with feeds open the time measured is
mostly the fan-out of the previous webhook that the loop is still busy with: what a
webhook waits for while consoles are open. The table gives medians over the rounds; the
ratios are taken within a round (same tree, same minute) and the median of those given.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from common import (
    CLIENT_CPU,
    FIXTURES,
    HOST,
    PYTHON,
    SERVER_CPU,
    SRC,
    Child,
    export_tree,
    free_port,
    machine_note,
    percentile,
    pinned,
    table,
    workdir,
)

FIXTURE = FIXTURES / "github" / "workflow_run.completed.failure.json"
ROUTES = "channels: {}\nroutes: []\n"
WARMUP = 20
# Caps above what the bench opens (the trees that have caps read these; older ones ignore them).
CAPS = {"SIGNALBOX_LIVE_MAX_STREAMS": "100000", "SIGNALBOX_LIVE_MAX_STREAMS_PER_CLIENT": "100000"}
LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); import app; "
    "print('serving', app.__file__, file=sys.stderr, flush=True); "
    "from app.cli import main; sys.argv[0] = 'signalbox'; main()"
)


def start_tree(name: str, tree: Path, work: Path, port: int) -> Child:
    """`signalbox serve` of source tree `tree`, as that tree's CLI runs it."""
    (work / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    cmd = [PYTHON, "-c", LAUNCH, str(tree), "serve", "--port", str(port)]
    cmd += ["--config", str(work / "routes.yaml"), "--data-dir", str(work / "data")]
    child = Child(name, pinned(cmd, SERVER_CPU), work / "signalbox.log", CAPS)
    child.wait_http(f"http://{HOST}:{port}/healthz")
    return child


# --- the holder of open feeds (a child process on the client core) -----------------------


async def _feed(port: int, rows: list[int], index: int, opened: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"GET /ui/feed/stream HTTP/1.1\r\nHost: bench\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"feed {index} refused: {head.splitlines()[0]!r}")
    tail = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        text = tail + chunk
        if b"signalbox-live" in text:
            opened.set()
        rows[index] += text.count(b'<li class="event"')
        tail = text[-32:]


async def hold(port: int, count: int) -> None:
    """Open `count` feeds, say "ready" once all are live, read until stdin closes, then
    print how many rows each feed got."""
    rows = [0] * count
    opened = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(_feed(port, rows, i, opened[i])) for i in range(count)]
    await asyncio.gather(*(event.wait() for event in opened))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    print(json.dumps({"min_rows": min(rows, default=0), "max_rows": max(rows, default=0)}))


# --- the poster --------------------------------------------------------------------------


def post_all(port: int, count: int) -> list[float]:
    """Seconds from send to answer of `count` webhooks posted one after the other."""
    body = FIXTURE.read_bytes()
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    seconds = []
    for _ in range(count):
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": str(uuid.uuid4()),
        }
        start = time.perf_counter()
        connection.request("POST", "/hooks/github", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        seconds.append(time.perf_counter() - start)
        if answer.status != 202:
            raise SystemExit(f"webhook answered {answer.status}")
    connection.close()
    return seconds


def measure(port: int, streams: int, posts: int) -> tuple[list[float], dict[str, int]]:
    holder = None
    if streams:
        cmd = [PYTHON, __file__, "--hold", str(streams), "--port", str(port)]
        holder = _spawn(pinned(cmd, CLIENT_CPU))
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != b"ready":
            raise SystemExit("the feeds did not open")
    try:
        post_all(port, WARMUP)
        seconds = post_all(port, posts)
        time.sleep(1)  # the rows of the last webhooks reach the feeds
    finally:
        counts: dict[str, int] = {}
        if holder is not None:
            out, _ = holder.communicate(b"", timeout=60)
            counts = json.loads(out.splitlines()[-1])
    return seconds, counts


def _spawn(cmd: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git revision to compare against, servers side by side")
    parser.add_argument("--streams", type=int, default=300, help="open feeds (default 300)")
    parser.add_argument("--posts", type=int, default=100, help="webhooks timed per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hold", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold is not None:
        _uvloop()
        asyncio.run(hold(args.port, args.hold))
        return

    trees = {"this tree": SRC}
    if args.base:
        trees = {args.base: export_tree(args.base), **trees}
    print(f"# live feed fan-out — {machine_note()}", file=sys.stderr)
    servers = {}
    for name, tree in trees.items():
        servers[name] = (start_tree(name, tree, workdir("livefeed"), port := free_port()), port)
    medians: dict[tuple[str, int], list[float]] = {}
    p99s: dict[tuple[str, int], list[float]] = {}
    ratios: dict[str, list[float]] = {name: [] for name in trees}
    after_before: list[float] = []
    shown: dict[str, list[int]] = {}
    try:
        for round_ in range(args.rounds):
            at_most: dict[str, float] = {}
            for name, (_, port) in servers.items():
                p50 = {}
                for streams in (0, args.streams):
                    print(f"[bench] round {round_ + 1}: {name}, {streams} feeds", file=sys.stderr)
                    seconds, counts = measure(port, streams, args.posts)
                    if streams and not counts["min_rows"]:
                        raise SystemExit(f"{name}: a feed got no row")
                    if streams:
                        shown.setdefault(name, []).append(counts["min_rows"])
                    p50[streams] = statistics.median(seconds) * 1000
                    medians.setdefault((name, streams), []).append(p50[streams])
                    p99s.setdefault((name, streams), []).append(percentile(seconds, 99) * 1000)
                ratios[name].append(p50[args.streams] / p50[0])
                at_most[name] = p50[args.streams]
            if args.base:
                base, this = list(trees)
                after_before.append(at_most[this] / at_most[base])
    finally:
        for child, _ in servers.values():
            child.stop()

    rows = []
    for name in trees:
        row: list[object] = [name]
        for streams in (0, args.streams):
            row += [
                statistics.median(medians[(name, streams)]),
                statistics.median(p99s[(name, streams)]),
            ]
        row.append(f"{statistics.median(ratios[name]):.1f} ({_span(ratios[name])})")
        row.append(min(shown[name]))
        rows.append(row)
    n = args.streams
    headers = ["tree", "0 feeds p50 ms", "p99 ms", f"{n} feeds p50 ms", "p99 ms", f"{n} ÷ 0 p50"]
    headers.append("rows a feed got")
    print(table(headers, rows))
    if after_before:
        print(
            f"\nthis tree ÷ {args.base} with {n} feeds open, p50: "
            f"{statistics.median(after_before):.3f} ({_span(after_before)})"
        )
    print(
        f"\n{args.posts} GitHub workflow_run webhooks posted one after the other per run "
        f"(after {WARMUP} not timed), {args.rounds} rounds, medians over rounds; ratios "
        "within a round, median (range). Rows a feed got: the fewest any feed got in a run, "
        f"of {args.posts + WARMUP} events (a tree that renders at most a number of rows "
        "per pass skips some when events come faster)."
    )


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def _uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
