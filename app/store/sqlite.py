"""SQLite store: WAL mode, one writer thread that commits many requests at once.

Every write must be durable before the webhook gets its 2xx. One fsync per request caps
ingest at the disk's fsync rate, so the writer drains whatever is queued and commits it
in one transaction (group commit); each request runs under its own SAVEPOINT so one
failing request does not undo its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.logs import log
from app.store.base import ReadTx, StoreUnavailable, WriteTx
from app.store.handoff import Desk, Pending, Write, settle
from app.store.queries import SqliteReadTx, SqliteWriteTx
from app.store.sqlite_schema import migrate

T = TypeVar("T")


# Most requests a single commit may carry: bounds the latency a large backlog adds.
MAX_BATCH = 256
# WAL pages go back into the database file on a thread of their own, this often. Left to
# SQLite's automatic checkpoint they are copied by the committing writer, and the fsyncs
# of a checkpoint stall every webhook queued behind it (the p99 of a storm).
CHECKPOINT_EVERY = 1.0
# A WAL file grown by a burst is cut back to this size once checkpointed.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# Past this size the writer itself restarts the WAL between two commits. A PASSIVE
# checkpoint never can while webhooks keep committing (the writer appends as it copies),
# so under steady load the file grew ~45 MB a minute at 200 events/s. The restart is
# short: the PASSIVE rounds have already copied all but the newest frames.
WAL_RESTART_BYTES = 16 * 1024 * 1024
# How long that restart waits for open reads (a console query) before trying again a
# second later: webhooks queue behind it meanwhile.
WAL_RESTART_WAIT_MS = 100
# The readiness probe writes (and deletes) a row this large: more than a page, so it needs
# pages nobody else uses, as a webhook's event does; on a full disk it fails as they do.
PROBE_BYTES = 16 * 1024


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )
    # Only takes effect on a new file, and only before WAL mode writes its header: lets
    # retention give pruned pages back (an older file keeps reusing them instead).
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a 2xx promises the event survives power loss, not only a process crash.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStore:
    """The embedded store behind `make run`: one file, no server."""

    def __init__(
        self, path: Path, busy_timeout: float = 30.0, clock: Callable[[], float] | None = None
    ) -> None:
        """`busy_timeout`: seconds a write may take, queued or waiting for a lock, before
        its caller gets StoreUnavailable (SIGNALBOX_DB_BUSY_TIMEOUT)."""
        self.path = path
        self.busy_timeout = busy_timeout
        self._clock = clock
        # Local reads take no time worth bounding; writes may wait for a lock or the disk.
        self._desk = Desk(path.name, busy_timeout, read_timeout=None)
        self._writer: threading.Thread | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._reader: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_listeners: list[
            tuple[asyncio.AbstractEventLoop, Callable[[set[str]], None]]
        ] = []

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path, self.busy_timeout)
        migrate(conn, self.path)
        self._write_conn = conn
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="sqlite-write", daemon=True
        )
        self._writer.start()
        self._reader = threading.Thread(
            target=self._read_loop,
            args=(_connect(self.path, self.busy_timeout),),
            name="sqlite-read",
            daemon=True,
        )
        self._reader.start()
        self._stopping.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop,
            args=(_connect(self.path, self.busy_timeout),),
            name="sqlite-checkpoint",
            daemon=True,
        )
        self._checkpointer.start()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._stopping.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        if self._writer is not None:
            self._desk.writes.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._reader is not None:
            self._desk.reads.put(None)
            await asyncio.to_thread(self._reader.join)
            self._reader = None

    async def write(self, fn: Callable[[WriteTx], T], urgent: bool = False) -> T:
        """Run `fn` in the writer's next transaction (`urgent`: ahead of what is queued);
        StoreUnavailable after busy_timeout (see Desk)."""
        if self._writer is None:
            raise StoreUnavailable("store is not running")
        return await self._desk.write(fn, urgent)

    async def read(self, fn: Callable[[ReadTx], T]) -> T:
        """Run `fn` on the reader thread, which takes every read queued at once."""
        if self._reader is None:
            raise StoreUnavailable("store is not running")
        return await self._desk.read(fn)

    def _read_loop(self, conn: sqlite3.Connection) -> None:
        tx = SqliteReadTx(conn, self._clock)
        try:
            while (batch := self._desk.reads.batch(MAX_BATCH)) is not None:
                outcomes: list[tuple[Pending, bool, Any]] = []
                for job in batch:
                    try:
                        outcomes.append((job, True, job.fn(tx)))
                    except Exception as exc:
                        outcomes.append((job, False, exc))
                settle(outcomes)
        finally:
            conn.close()

    async def wake(self, receivers: set[str]) -> None:
        # One file, one machine: the replicas that share it are in this process.
        for loop, listener in self._wake_listeners:
            with contextlib.suppress(RuntimeError):  # a loop closed since
                loop.call_soon_threadsafe(listener, set(receivers))

    def on_wake(self, listener: Callable[[set[str]], None]) -> None:
        self._wake_listeners.append((asyncio.get_running_loop(), listener))

    async def writable(self) -> bool:
        """Whether a webhook's write would commit now: a real row is written and deleted
        through the writer queue, within busy_timeout. An empty transaction commits on a
        full disk, while every event's insert fails."""
        try:
            await self.write(self._probe)
        except StoreUnavailable:
            return False
        return True

    def _probe(self, tx: WriteTx) -> None:
        # Runs on the writer thread, inside its transaction, like any write job.
        assert self._write_conn is not None
        self._write_conn.execute(
            "INSERT INTO readiness_probe (at, pad) VALUES (?, zeroblob(?))",
            (time.time(), PROBE_BYTES),
        )
        self._write_conn.execute("DELETE FROM readiness_probe")

    def _checkpoint_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY):
                try:
                    # PASSIVE never waits for writers or readers: it copies what it can.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    # The WAL keeps growing meanwhile; say so, and try again next round.
                    log(logging.ERROR, "WAL checkpoint failed", db=str(self.path), error=str(exc))
        finally:
            conn.close()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        tx = SqliteWriteTx(conn, self._clock)
        wal = self.path.with_name(self.path.name + "-wal")
        next_look = time.monotonic() + CHECKPOINT_EVERY
        try:
            while (batch := self._desk.writes.batch(MAX_BATCH)) is not None:
                batch = self._desk.claim(batch)
                if batch:
                    self._commit(conn, tx, batch)
                if time.monotonic() >= next_look:
                    next_look = time.monotonic() + CHECKPOINT_EVERY
                    self._restart_wal_if_large(conn, wal)
        finally:
            conn.close()

    def _restart_wal_if_large(self, conn: sqlite3.Connection, wal: Path) -> None:
        try:
            size = wal.stat().st_size if wal.exists() else 0
            if size <= WAL_RESTART_BYTES:
                return
            conn.execute(f"PRAGMA busy_timeout = {WAL_RESTART_WAIT_MS}")
            try:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        except (OSError, sqlite3.Error) as exc:
            # A full disk, say: the WAL stays as it is until the next look.
            log(logging.WARNING, "WAL restart failed", db=str(self.path), error=str(exc))
            return
        if busy:
            log(
                logging.WARNING,
                "WAL restart postponed: a read was still open",
                db=str(self.path),
                wal_bytes=size,
            )

    def _commit(self, conn: sqlite3.Connection, tx: SqliteWriteTx, batch: list[Write]) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    results.append((True, job.fn(tx)))
                    conn.execute("RELEASE job")
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    if isinstance(exc, sqlite3.OperationalError):
                        # A full disk, an I/O error, a lock: the store's state, not a bug of
                        # the caller's, which gets the same answer as for a failed commit.
                        exc = StoreUnavailable(f"could not write to {self.path.name}: {exc}")
                    results.append((False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"could not commit to {self.path.name}: {exc}")
            results = [(False, failure)] * len(batch)
        # One wake-up per event loop for the whole batch, not one per job.
        settle([(job, ok, value) for job, (ok, value) in zip(batch, results, strict=True)])
