"""SQLite store: WAL mode, one writer thread that commits many requests at once.

Every write must be durable before the webhook gets its 2xx. One fsync per request caps
ingest at the disk's fsync rate, so the writer drains whatever is queued and commits it
in one transaction (group commit); each request runs under its own SAVEPOINT so one
failing request does not undo its neighbours.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app.events import Event
from app.store.base import ReadTx, RunRecord, StoreUnavailable, WriteTx

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    received_at REAL NOT NULL,
    event TEXT NOT NULL,
    routing TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_source ON events (source, id);
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, id);
CREATE TABLE IF NOT EXISTS seen_deliveries (
    key TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_runs (
    pipeline_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_order INTEGER,
    status TEXT NOT NULL,
    arrived INTEGER NOT NULL,
    PRIMARY KEY (pipeline_key, run_id)
);
CREATE INDEX IF NOT EXISTS runs_by_order ON pipeline_runs (pipeline_key, run_order, arrived);
"""

FINISHED = ("success", "failure", "unstable", "cancelled", "skipped")
# Most requests a single commit may carry: bounds the latency a large backlog adds.
MAX_BATCH = 256


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a 2xx promises the event survives power loss, not only a process crash.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class _SqliteWriteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def delivery_seen(self, key: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM seen_deliveries WHERE key = ?", (key,)).fetchone()
        return row is not None

    def remember_delivery(self, key: str) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO seen_deliveries (key, seen_at) VALUES (?, ?)",
            (key, time.time()),
        )

    def get_run(self, pipeline_key: str, run_id: str) -> RunRecord | None:
        row = self._conn.execute(
            "SELECT run_id, run_order, status FROM pipeline_runs"
            " WHERE pipeline_key = ? AND run_id = ?",
            (pipeline_key, run_id),
        ).fetchone()
        return RunRecord(*row) if row else None

    def finished_runs_before(
        self, pipeline_key: str, run: RunRecord, limit: int
    ) -> list[RunRecord]:
        arrived = self._arrival(pipeline_key, run.run_id)
        # Runs without an order (a source that has none) fall back to arrival order.
        rows = self._conn.execute(
            f"""SELECT run_id, run_order, status FROM pipeline_runs
                WHERE pipeline_key = ? AND run_id != ?
                  AND status IN ({",".join("?" * len(FINISHED))})
                  AND (CASE WHEN ? IS NOT NULL AND run_order IS NOT NULL
                            THEN run_order < ? ELSE arrived < ? END)
                ORDER BY run_order IS NULL, run_order DESC, arrived DESC
                LIMIT ?""",  # noqa: S608 - only placeholders are interpolated
            (pipeline_key, run.run_id, *FINISHED, run.run_order, run.run_order, arrived, limit),
        ).fetchall()
        return [RunRecord(*r) for r in rows]

    def _arrival(self, pipeline_key: str, run_id: str) -> int:
        row = self._conn.execute(
            "SELECT arrived FROM pipeline_runs WHERE pipeline_key = ? AND run_id = ?",
            (pipeline_key, run_id),
        ).fetchone()
        return int(row[0]) if row else time.time_ns()

    def save_run(self, pipeline_key: str, run: RunRecord) -> None:
        self._conn.execute(
            """INSERT INTO pipeline_runs (pipeline_key, run_id, run_order, status, arrived)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (pipeline_key, run_id)
               DO UPDATE SET status = excluded.status, run_order = excluded.run_order""",
            (pipeline_key, run.run_id, run.run_order, run.status, time.time_ns()),
        )

    def insert_event(self, event: Event, routing: dict[str, Any]) -> None:
        self._conn.execute(
            """INSERT INTO events
               (id, source, kind, status, fingerprint, received_at, event, routing)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                event.id,
                event.source,
                event.kind,
                event.status,
                event.fingerprint,
                event.received_at.timestamp(),
                event.model_dump_json(),
                json.dumps(routing, ensure_ascii=False),
            ),
        )


class _SqliteReadTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def list_events(
        self, *, limit: int, source: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(
            f"SELECT event, routing FROM events {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        ).fetchall()
        out = []
        for event_json, routing_json in rows:
            item: dict[str, Any] = json.loads(event_json)
            item["routing"] = json.loads(routing_json)
            out.append(item)
        return out

    def count_events(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])


@dataclass
class _Job:
    fn: Callable[[WriteTx], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class SqliteStore:
    """The embedded store behind `make run`: one file, no server."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._read_conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path, self.busy_timeout)
        conn.executescript(SCHEMA)
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="sqlite-write", daemon=True
        )
        self._writer.start()
        self._read_conn = _connect(self.path, self.busy_timeout)

    async def close(self) -> None:
        if self._writer is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        self._reader.shutdown(wait=True)
        if self._read_conn is not None:
            self._read_conn.close()
            self._read_conn = None

    async def write(self, fn: Callable[[WriteTx], T]) -> T:
        if self._writer is None:
            raise StoreUnavailable("store is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, loop, future))
        return await future

    async def read(self, fn: Callable[[ReadTx], T]) -> T:
        conn = self._read_conn
        if conn is None:
            raise StoreUnavailable("store is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, lambda: fn(_SqliteReadTx(conn)))

    async def writable(self) -> bool:
        try:
            await self.write(lambda tx: None)
        except StoreUnavailable:
            return False
        return True

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        tx = _SqliteWriteTx(conn)
        try:
            while True:
                first = self._jobs.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        self._jobs.put(None)
                        break
                    batch.append(job)
                self._commit(conn, tx, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, tx: _SqliteWriteTx, batch: list[_Job]) -> None:
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
                    results.append((False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"could not commit to {self.path.name}: {exc}")
            results = [(False, failure)] * len(batch)
        for job, (ok, value) in zip(batch, results, strict=True):
            job.loop.call_soon_threadsafe(_settle, job.future, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
