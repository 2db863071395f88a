"""The PostgreSQL store where it differs from SQLite: migrations under a lock, replicas
writing one pipeline at once, locks and deadlocks between them, the commit setting."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from app.bus.plan import Plan
from app.events import Event
from app.ingest import ingest
from app.store import ReadTx, StoreUnavailable, WriteTx
from app.store.postgres import PostgresStore
from app.store.postgres_schema import MIGRATIONS, migrate
from app.store.sqlite_schema import SchemaTooNew
from pgserver import PgServer
from providers.sample import run_event
from stores import PostgresBackend, count

TABLES = ("events", "deliveries", "dispatches", "pipeline_runs", "pipelines", "suppressed")


@pytest.fixture
def pg(pg_server: PgServer) -> PostgresBackend:
    return PostgresBackend(pg_server, pg_server.database())


def version(pg: PostgresBackend) -> int:
    return int(pg.rows("SELECT version FROM schema_version")[0][0])


def no_routes(event: Event, history: ReadTx) -> Plan:
    return Plan({}, [])


async def test_a_fresh_database_gets_the_whole_schema(pg: PostgresBackend) -> None:
    """Starting on an empty database creates every table and records the latest version."""
    store = pg.store()
    await store.start()
    await store.close()
    assert version(pg) == len(MIGRATIONS)
    for table in TABLES:
        assert count(pg, table) == 0


def test_an_older_database_is_migrated_and_keeps_its_rows(pg: PostgresBackend) -> None:
    """A database at version 1 gets only the migrations after it, in order, keeping its rows."""
    first = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
    second = "ALTER TABLE notes ADD COLUMN seen BOOLEAN NOT NULL DEFAULT false"
    with pg.connect() as conn:
        assert migrate(conn, "test", (first,)) == 1
        conn.execute("INSERT INTO notes (id, body) VALUES (1, 'kept')")
        assert migrate(conn, "test", (first, second)) == 2
        assert migrate(conn, "test", (first, second)) == 2  # nothing left to apply
    assert pg.rows("SELECT id, body, seen FROM notes") == [(1, "kept", False)]
    assert version(pg) == 2


async def test_a_newer_schema_is_refused(pg: PostgresBackend) -> None:
    """A database migrated by a newer Signalbox is not touched: start fails saying why."""
    first = pg.store()
    await first.start()
    await first.close()
    pg.rows("UPDATE schema_version SET version = 99 RETURNING version")
    store = pg.store()
    with pytest.raises(SchemaTooNew, match=r"schema version 99, newer than this Signalbox knows"):
        await store.start()
    with pytest.raises(StoreUnavailable):
        await store.write(lambda tx: None)
    assert version(pg) == 99


async def test_replicas_starting_together_migrate_once(
    pg: PostgresBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Four stores starting at once on an empty database all start; each migration is
    applied by one of them only."""
    caplog.set_level(logging.INFO, logger="signalbox")
    stores = [pg.store() for _ in range(4)]
    await asyncio.gather(*(s.start() for s in stores))
    try:
        assert all(await asyncio.gather(*(s.writable() for s in stores)))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert caplog.messages.count("database schema migrated") == len(MIGRATIONS)
    assert version(pg) == len(MIGRATIONS)


async def test_commits_are_synchronous_whatever_the_database_default(
    pg: PostgresBackend,
) -> None:
    """A database whose default is synchronous_commit=off still gets durable commits."""
    with pg.connect() as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(f'ALTER DATABASE "{name[0]}" SET synchronous_commit = off')
    store = pg.store()
    await store.start()

    def setting(tx: Any) -> str:
        row = tx.conn.execute("SHOW synchronous_commit").fetchone()
        return str(row[0])

    try:
        assert await store.write(setting) == "on"
    finally:
        await store.close()


async def test_a_pipeline_locked_by_another_replica_answers_store_unavailable(
    pg: PostgresBackend,
) -> None:
    """A write waiting on a row another replica keeps locked gives up after the busy
    timeout with StoreUnavailable, and the store writes again once the lock is gone."""
    store = pg.store(busy_timeout=0.3)
    await store.start()
    key = "gitlab\x1fgroup/app\x1fbuild\x1fmain"
    try:
        await store.write(lambda tx: tx.generation(key))
        with pg.connect() as other:
            other.execute("BEGIN")
            other.execute("SELECT * FROM pipelines WHERE pipeline_key = %s FOR UPDATE", (key,))
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(StoreUnavailable):
                await store.write(lambda tx: tx.generation(key))
            assert loop.time() - started < 2.0
            other.execute("ROLLBACK")
        assert await store.write(lambda tx: tx.generation(key)) == 0
    finally:
        await store.close()


async def test_a_job_that_loses_a_deadlock_runs_again(pg: PostgresBackend) -> None:
    """Two replicas locking two pipelines in opposite orders deadlock; the job PostgreSQL
    picks as the victim runs again in a new transaction, and both callers succeed."""
    replicas = [pg.store(busy_timeout=10), pg.store(busy_timeout=10)]
    for store in replicas:
        await store.start()
    holding = [threading.Event(), threading.Event()]
    runs = [0, 0]

    def job(me: int, first: str, then: str) -> Callable[[WriteTx], int]:
        def write(tx: WriteTx) -> int:
            runs[me] += 1
            tx.generation(first)  # locks its row
            holding[me].set()
            holding[1 - me].wait(5)  # both hold their first row: the next lock deadlocks
            return tx.generation(then)

        return write

    try:
        results = await asyncio.gather(
            replicas[0].write(job(0, "p1", "p2")), replicas[1].write(job(1, "p2", "p1"))
        )
    finally:
        for store in replicas:
            await store.close()
    assert sorted(runs) == [1, 2], "one of them ran twice"
    assert results == [0, 0]  # type: ignore[comparison-overlap]


def replica(
    url: str, runs: int, barrier: threading.Barrier, accepted: list[Event]
) -> Callable[[], None]:
    """A replica's process, reduced to what matters: its own event loop and store, ingesting
    one event per run, at the same moment as the other replica."""

    async def main() -> None:
        store = PostgresStore(url)
        await store.start()
        try:
            for run in range(1, runs + 1):
                event = run_event(run)
                await asyncio.to_thread(barrier.wait, 10)
                await ingest(store, [event], None, no_routes)
                accepted.append(event)
        finally:
            await store.close()

    return lambda: asyncio.run(main())


def test_two_replicas_receiving_one_build_at_once_tell_it_once(pg: PostgresBackend) -> None:
    """Jenkins' COMPLETED on one replica and FINALIZED on another, at the same moment, for
    30 builds in a row: each build is news once (broken, then still failing with its
    streak) and the other is old news, never both news."""
    runs = 30
    barrier = threading.Barrier(2)
    accepted: list[list[Event]] = [[], []]
    threads = [
        threading.Thread(target=replica(pg.url, runs, barrier, accepted[n]), daemon=True)
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [len(a) for a in accepted] == [runs, runs]
    for run in range(1, runs + 1):
        pair = [a[run - 1] for a in accepted]
        news = [e for e in pair if e.old_news is None]
        assert len(news) == 1, (run, [e.old_news for e in pair])
        expected = ("broken" if run == 1 else "still_failing", str(run))
        assert (news[0].labels["transition"], news[0].labels["failure_streak"]) == expected
        assert {e.labels["failure_streak"] for e in pair} == {str(run)}
    assert count(pg, "pipeline_runs") == runs


async def test_a_wake_up_reaches_every_replica_of_the_database(pg: PostgresBackend) -> None:
    """Receivers one replica wakes are heard by the others and by itself (LISTEN/NOTIFY),
    however many there are; and a replica whose database is gone still stores nothing
    wrongly: waking never raises."""
    replicas = [pg.store(), pg.store()]
    heard: list[list[set[str]]] = [[], []]
    for n, store in enumerate(replicas):
        await store.start()
        store.on_wake(heard[n].append)
    many = {f"receiver-{i:04d}-" + "x" * 40 for i in range(300)}  # past one NOTIFY's limit
    try:
        await asyncio.sleep(0.3)  # both listening
        await replicas[0].wake({"slack-oncall"})
        await replicas[1].wake(many)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        expected = many | {"slack-oncall"}
        while not all(set[str]().union(*h) == expected for h in heard):
            assert loop.time() < deadline, [len(h) for h in heard]
            await asyncio.sleep(0.05)
    finally:
        for store in replicas:
            await store.close()
    await replicas[0].wake({"after-close"})  # not running: said nowhere, raises nothing
