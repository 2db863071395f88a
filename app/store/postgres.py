"""PostgreSQL store: several replicas share one database (SIGNALBOX_DATABASE_URL).

The promise is SQLite's: a write is committed, with synchronous_commit on, before its
caller is answered. The writer thread drains the queue of write jobs and commits many at
once (group commit), each job under its own SAVEPOINT so that a failing one does not undo its
neighbours. psycopg's synchronous connection runs the synchronous job functions as they
are; bench/pgdriver.py measured it against asyncpg (docs/operations.md, "Storage").

Writers on other replicas are other transactions: a job that loses a deadlock to one (two
batches locking the same pipelines in a different order) is run again in the writer's
next transaction. A lost connection fails the jobs in flight with StoreUnavailable, and
the next job reconnects (postgres_link.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from app.logs import log
from app.store.base import ReadTx, StoreUnavailable, WriteTx
from app.store.handoff import Desk, Pending, Read, Write, settle
from app.store.postgres_link import Conn, Health, Link, describe
from app.store.postgres_queries import PgReadTx, PgWriteTx
from app.store.postgres_schema import migrate
from app.store.postgres_wake import Hearing, Listener, notifier

T = TypeVar("T")

# Most requests a single commit may carry: bounds the latency a large backlog adds.
MAX_BATCH = 256
# Writer connections. One: writes then commit in the order they were queued, as SQLite's
# do (the bus does not always await a delivery's write before the next of the same
# delivery), and two batches of one replica never wait on each other's row locks. A
# second measured no faster here (bench/pgdriver.py: 903 vs 1,005 writes/s).
WRITERS = 1
# Runs of a job whose transaction lost a deadlock or a serialization conflict.
MAX_RUNS = 3
# Lost a deadlock or a serialization conflict to another transaction: worth another run.
_CONFLICTS = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)

Outcome = tuple[Pending, bool, Any]


class PostgresStore:
    """The shared store behind several replicas: a PostgreSQL database."""

    def __init__(
        self,
        url: str,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] | None = None,
        *,
        writers: int = WRITERS,
        connect_wait: float = 30.0,
    ) -> None:
        """`busy_timeout`: seconds a write or read may take before its caller gets
        StoreUnavailable (SIGNALBOX_DB_BUSY_TIMEOUT). `connect_wait`: how long start()
        waits for an unreachable database (it may be starting beside us)."""
        self.url = url
        self.where = describe(url)
        self.busy_timeout = busy_timeout
        self._clock = clock
        self.writers = writers
        self._connect_wait = connect_wait
        self._health = Health(self.where)
        self._desk = Desk(self.where, busy_timeout, read_timeout=busy_timeout)
        self._threads: list[threading.Thread] = []
        self._hearing = Hearing(self._link())

    def _link(self) -> Link:
        return Link(self.url, self.busy_timeout, self._health)

    async def start(self) -> None:
        first = self._link()
        await asyncio.to_thread(self._migrate, first)
        writers = [first] + [self._link() for _ in range(self.writers - 1)]
        reader = self._link()
        try:
            for link in [*writers[1:], reader]:
                await asyncio.to_thread(link.get)
        except BaseException:
            for link in [*writers, reader]:
                link.close()
            raise
        for n, link in enumerate(writers):
            self._spawn(self._write_loop, link, f"postgres-write-{n}")
        self._spawn(self._read_loop, reader, "postgres-read")

    def _spawn(self, loop: Callable[[Link], None], link: Link, name: str) -> None:
        thread = threading.Thread(target=loop, args=(link,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _migrate(self, link: Link) -> None:
        deadline = time.monotonic() + self._connect_wait
        while True:
            try:
                conn = link.get()
                break
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        try:
            migrate(conn, self.where)
        except BaseException:
            link.close()
            raise

    async def close(self) -> None:
        await self._hearing.stop(self.busy_timeout + 1.0)
        for thread in self._threads:
            if thread.name.startswith("postgres-write"):
                self._desk.writes.put(None)
            else:
                self._desk.reads.put(None)
        for thread in self._threads:
            # A thread stuck on a server that stopped answering must not hold the
            # shutdown: it is a daemon, and its socket times out by itself.
            await asyncio.to_thread(thread.join, self.busy_timeout + 1.0)
            if thread.is_alive():
                log(logging.WARNING, "left a database connection waiting", thread=thread.name)
        self._threads = []

    async def write(self, fn: Callable[[WriteTx], T], urgent: bool = False) -> T:
        """Run `fn` in a writer's next transaction (`urgent`: ahead of what is queued);
        StoreUnavailable after busy_timeout (see Desk). `fn` may run more than once when
        its transaction loses a deadlock: its effects beyond `tx` must bear that."""
        if not self._threads:
            raise StoreUnavailable("store is not running")
        return await self._desk.write(fn, urgent)

    async def read(self, fn: Callable[[ReadTx], T]) -> T:
        """Run `fn` on the reader thread (each statement sees the latest commits)."""
        if not self._threads:
            raise StoreUnavailable("store is not running")
        return await self._desk.read(fn)

    async def wake(self, receivers: set[str]) -> None:
        """NOTIFY the replicas (this one too) that work was stored for `receivers`. Never
        raises: the work is stored already, and an owner not woken finds it at its next
        lease round."""
        with contextlib.suppress(StoreUnavailable):
            await self.write(notifier(receivers))

    def on_wake(self, listener: Listener) -> None:
        """Call `listener` on the running loop with the receivers of every wake-up sent
        to this database, from a connection that LISTENs (postgres_wake.py)."""
        self._hearing.add(listener)

    async def writable(self) -> bool:
        """Whether a webhook's write would commit now: a real row written and deleted
        through the writer queue, within busy_timeout."""
        try:
            await self.write(_probe)
        except StoreUnavailable:
            return False
        return True

    def _read_loop(self, link: Link) -> None:
        try:
            while (batch := self._desk.reads.batch(MAX_BATCH)) is not None:
                settle([self._read(link, job) for job in batch])
        finally:
            link.close()

    def _read(self, link: Link, job: Read) -> Outcome:
        try:
            conn = link.get()
        except StoreUnavailable as exc:
            return job, False, exc
        try:
            return job, True, job.fn(PgReadTx(conn, self._clock))
        except psycopg.OperationalError as exc:
            if conn.broken:
                link.lost(exc)
            return job, False, StoreUnavailable(f"could not read from {self.where}: {exc}")
        except Exception as exc:
            return job, False, exc

    def _write_loop(self, link: Link) -> None:
        try:
            while (batch := self._desk.writes.batch(MAX_BATCH)) is not None:
                batch = self._desk.claim(batch)
                for run in range(1, MAX_RUNS + 1):
                    if not batch:
                        break
                    outcomes, batch = self._commit(link, batch, last=run == MAX_RUNS)
                    settle(outcomes)
        finally:
            link.close()

    def _commit(
        self, link: Link, batch: list[Write], *, last: bool
    ) -> tuple[list[Outcome], list[Write]]:
        """Run the jobs in one transaction: their outcomes, and the jobs to run again."""
        try:
            conn = link.get()
        except StoreUnavailable as exc:
            return [(job, False, exc) for job in batch], []
        tx = PgWriteTx(conn, self._clock)
        outcomes: list[Outcome] = []
        again: list[Write] = []
        try:
            conn.execute("BEGIN; SAVEPOINT job")
            for job in batch:
                try:
                    value = job.fn(tx)
                    # One round trip ends this job's savepoint and begins the next one's
                    # (~15% of the writer's CPU per job, bench/pgdriver.py's jobs).
                    conn.execute("RELEASE SAVEPOINT job; SAVEPOINT job")
                except Exception as exc:
                    if conn.broken:
                        raise
                    # Undoes the job; the savepoint stays, for the next one.
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    if isinstance(exc, _CONFLICTS) and not last:
                        again.append(job)
                    else:
                        outcomes.append((job, False, self._job_failure(exc)))
                else:
                    outcomes.append((job, True, value))
            conn.execute("COMMIT")
        except Exception as exc:  # the database's failure, or a job's on a lost connection
            self._rollback(link, conn, exc)
            failure = StoreUnavailable(f"could not commit to {self.where}: {exc}")
            return [(job, False, failure) for job in batch], []
        return outcomes, again

    def _job_failure(self, exc: Exception) -> Exception:
        if isinstance(exc, psycopg.OperationalError):
            # A full disk, a lock held too long, a conflict lost once too often: the
            # database's state, not a bug of the caller's, which gets the answer a failed
            # commit gets.
            return StoreUnavailable(f"could not write to {self.where}: {exc}")
        return exc

    def _rollback(self, link: Link, conn: Conn, exc: Exception) -> None:
        if conn.broken:
            link.lost(exc)
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error as again:
            log(logging.WARNING, "rollback failed", db=self.where, error=str(again))
            link.lost(again)


def _probe(tx: WriteTx) -> None:
    # Runs on a writer thread, inside its transaction, like any write job.
    assert isinstance(tx, PgWriteTx)
    tx.probe()
