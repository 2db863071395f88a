"""Which PostgreSQL driver for the store: psycopg 3 (sync) or asyncpg, measured.

The store's write jobs are synchronous functions (`fn(tx)`), run on the store's own
threads. psycopg's sync connection fits that as it is; asyncpg is asyncio-only, so inside
a job it needs an event loop of the thread's own driven once per statement
(`run_until_complete`), shown as "asyncpg, in a thread". "asyncpg, native" awaits it on
the loop, as an async protocol would: the best asyncpg could do here.

Two workloads, against one throwaway server (fsync on, synchronous_commit on), the drivers
taking turns for --rounds rounds; the table gives medians and each driver's figure
divided by psycopg's from its own round:

- small: N transactions of one job each (BEGIN, an upsert, COMMIT): commit-bound;
- batched: N jobs group-committed --batch at a time, each under its own SAVEPOINT, each
  job three statements as an alert's ingest is (the pipeline row's generation, the event
  row of ~1 kB, its dispatch): statement-bound.

Then the store itself (PostgresStore over psycopg), --concurrency callers writing
ingest-like jobs (remember the delivery key, insert the event, its dispatch) at once:
group commit with one or two writer connections, against one transaction per job
(batches of one), with SQLite's store on the same jobs for scale. Jobs per second and
the p50/p99 of a write's latency, medians over the rounds.

    .venv/bin/pip install asyncpg   # not a dependency: only this comparison needs it
    .venv/bin/python bench/pgdriver.py [--jobs 2000] [--batch 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psycopg

from app.events import Event, base_labels
from app.store import Store, WriteTx
from app.store import postgres as pg_store
from app.store.postgres import PostgresStore
from app.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pgserver import find_bindir, running_server

SCHEMA = """
DROP TABLE IF EXISTS b_events, b_dispatches, b_pipelines, b_seen;
CREATE TABLE b_seen (key TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL);
CREATE TABLE b_pipelines (key TEXT PRIMARY KEY, generation BIGINT NOT NULL);
CREATE TABLE b_events (id TEXT PRIMARY KEY, received_at DOUBLE PRECISION, event TEXT);
CREATE TABLE b_dispatches (event_id TEXT, route TEXT, receiver TEXT,
                           seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY)
"""
SEEN = "INSERT INTO b_seen (key, at) VALUES ($1, $2) ON CONFLICT DO NOTHING"
GENERATION = """INSERT INTO b_pipelines (key, generation) VALUES ($1, 0)
    ON CONFLICT (key) DO UPDATE SET generation = b_pipelines.generation RETURNING generation"""
EVENT = "INSERT INTO b_events (id, received_at, event) VALUES ($1, $2, $3)"
DISPATCH = "INSERT INTO b_dispatches (event_id, route, receiver) VALUES ($1, $2, $3)"
BODY = '{"labels": {"alertname": "DiskFull"}, "title": "' + "x" * 1000 + '"}'


def pg(sql: str) -> str:
    """asyncpg's $n placeholders as psycopg's %s."""
    for n in range(9, 0, -1):
        sql = sql.replace(f"${n}", "%s")
    return sql


class Psycopg:
    name = "psycopg 3, sync"

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def small(self, n: int, tag: str) -> None:
        for i in range(n):
            with self.conn.transaction():
                self.conn.execute(pg(SEEN), (f"{tag}{i}", time.time()))

    def batched(self, n: int, batch: int, tag: str) -> None:
        conn = self.conn
        for start in range(0, n, batch):
            conn.execute("BEGIN")
            for i in range(start, min(n, start + batch)):
                conn.execute("SAVEPOINT job")
                conn.execute(pg(GENERATION), (f"p{i % 50}",)).fetchone()
                conn.execute(pg(EVENT), (f"{tag}{i}", time.time(), BODY))
                conn.execute(pg(DISPATCH), (f"{tag}{i}", "0", "sink"))
                conn.execute("RELEASE SAVEPOINT job")
            conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class AsyncpgNative:
    name = "asyncpg, native"

    def __init__(self, url: str) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(url))

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        self.loop.run_until_complete(coro)

    def small(self, n: int, tag: str) -> None:
        async def run() -> None:
            for i in range(n):
                async with self.conn.transaction():
                    await self.conn.execute(SEEN, f"{tag}{i}", time.time())

        self._run(run())

    def batched(self, n: int, batch: int, tag: str) -> None:
        async def run() -> None:
            conn = self.conn
            for start in range(0, n, batch):
                await conn.execute("BEGIN")
                for i in range(start, min(n, start + batch)):
                    await conn.execute("SAVEPOINT job")
                    await conn.fetchval(GENERATION, f"p{i % 50}")
                    await conn.execute(EVENT, f"{tag}{i}", time.time(), BODY)
                    await conn.execute(DISPATCH, f"{tag}{i}", "0", "sink")
                    await conn.execute("RELEASE SAVEPOINT job")
                await conn.execute("COMMIT")

        self._run(run())

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


class AsyncpgInThread(AsyncpgNative):
    """What a synchronous job would do: one run_until_complete per statement."""

    name = "asyncpg, in a thread"

    def _do(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def small(self, n: int, tag: str) -> None:
        for i in range(n):
            self._do(self.conn.execute("BEGIN"))
            self._do(self.conn.execute(SEEN, f"{tag}{i}", time.time()))
            self._do(self.conn.execute("COMMIT"))

    def batched(self, n: int, batch: int, tag: str) -> None:
        conn = self.conn
        for start in range(0, n, batch):
            self._do(conn.execute("BEGIN"))
            for i in range(start, min(n, start + batch)):
                self._do(conn.execute("SAVEPOINT job"))
                self._do(conn.fetchval(GENERATION, f"p{i % 50}"))
                self._do(conn.execute(EVENT, f"{tag}{i}", time.time(), BODY))
                self._do(conn.execute(DISPATCH, f"{tag}{i}", "0", "sink"))
                self._do(conn.execute("RELEASE SAVEPOINT job"))
            self._do(conn.execute("COMMIT"))


def timed(fn: Callable[[], None], jobs: int) -> float:
    """µs of wall time per job."""
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) / jobs * 1e6


def compare_drivers(url: str, args: argparse.Namespace) -> None:
    drivers = (Psycopg, AsyncpgNative, AsyncpgInThread)
    figures: dict[tuple[str, str], list[float]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
    for rnd in range(args.rounds):
        # Each round in another order: the machine drifts, and a table's first writer pays
        # for growing it.
        for driver in drivers[rnd % 3 :] + drivers[: rnd % 3]:
            d = driver(url)
            tag = f"{rnd}-{driver.__name__}-"

            def small(d: Any = d, tag: str = tag) -> None:
                d.small(args.jobs, tag + "s")

            def batched(d: Any = d, tag: str = tag) -> None:
                d.batched(args.jobs, args.batch, tag + "b")

            try:
                d.small(50, tag + "warm")  # connection warm-up, prepared statements
                figures.setdefault((driver.name, "small"), []).append(timed(small, args.jobs))
                figures.setdefault((driver.name, "batched"), []).append(timed(batched, args.jobs))
            finally:
                d.close()
    base = Psycopg.name
    print(f"\n{args.jobs} jobs, batches of {args.batch}, {args.rounds} rounds; µs per job\n")
    print("| driver | small txn µs | ÷ psycopg | batched µs | ÷ psycopg |")
    print("| --- | --- | --- | --- | --- |")
    for driver in drivers:
        cells = []
        for kind in ("small", "batched"):
            mine = figures[(driver.name, kind)]
            ratios = [m / b for m, b in zip(mine, figures[(base, kind)], strict=True)]
            cells += [f"{statistics.median(mine):.0f}", f"{statistics.median(ratios):.2f}"]
        print(f"| {driver.name} | " + " | ".join(cells) + " |")


def ingest_job(n: int) -> Callable[[WriteTx], None]:
    """What an alert's webhook writes: its delivery key, its event, a dispatch."""
    event = Event(
        fingerprint=f"fp-{n}",
        title="DiskFull " + "x" * 600,
        labels=base_labels(
            source="alertmanager", kind="alert", status="firing", project="p", pipeline="DiskFull"
        ),
    )

    def write(tx: WriteTx) -> None:
        tx.remember_delivery(f"bench:{event.id}")
        tx.insert_event(event, {"routes": ["0"], "receivers": ["sink"]})
        tx.add_dispatches(event.id, [("0", "sink")])

    return write


async def drive(store: Store, jobs: int, concurrency: int) -> tuple[float, float, float]:
    """(jobs per second, p50 ms, p99 ms) of `jobs` writes, `concurrency` at a time."""
    latencies: list[float] = []
    todo = iter(range(jobs))

    async def caller() -> None:
        for n in todo:
            started = time.perf_counter()
            await store.write(ingest_job(n))
            latencies.append(time.perf_counter() - started)

    await store.start()
    try:
        await asyncio.gather(*(store.write(ingest_job(-n)) for n in range(1, 50)))  # warm-up
        began = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        took = time.perf_counter() - began
    finally:
        await store.close()
    latencies.sort()
    return (
        jobs / took,
        latencies[len(latencies) // 2] * 1e3,
        latencies[int(len(latencies) * 0.99)] * 1e3,
    )


def compare_stores(server: Any, args: argparse.Namespace) -> None:
    configs: dict[str, Callable[[], Store]] = {
        "PostgreSQL, group commit, 2 writers": lambda: PostgresStore(server.database(), writers=2),
        "PostgreSQL, group commit, 1 writer": lambda: PostgresStore(server.database(), writers=1),
        "PostgreSQL, a transaction per job, 1 writer": lambda: PostgresStore(
            server.database(), writers=1
        ),
        "SQLite, group commit": lambda: SqliteStore(Path(tempfile.mkdtemp()) / "bench.db"),
    }
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in configs}
    for rnd in range(args.rounds):
        names = list(configs)
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            make = configs[name]
            pg_store.MAX_BATCH = 1 if "per job" in name else 256
            figures[name].append(asyncio.run(drive(make(), args.store_jobs, args.concurrency)))
    pg_store.MAX_BATCH = 256
    base = "PostgreSQL, a transaction per job, 1 writer"
    print(
        f"\nthe store: {args.store_jobs} ingest-like writes, {args.concurrency} at once, "
        f"{args.rounds} rounds\n"
    )
    print("| store | writes/s | ÷ a transaction per job | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, runs in figures.items():
        ratios = [r[0] / b[0] for r, b in zip(runs, figures[base], strict=True)]
        rate, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {name} | {rate:.0f} | {statistics.median(ratios):.2f} | {p50:.1f} | {p99:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store-jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found: apt-get install postgresql")
    with running_server(bindir, fsync=True) as server:
        compare_drivers(server.database(), args)
        compare_stores(server, args)


if __name__ == "__main__":
    main()
