"""The SQL behind the store protocol: every statement the service runs lives here."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from app.events import Event
from app.store import retention
from app.store.base import (
    OPEN_DELIVERY_STATES,
    DeliveryRecord,
    Retention,
    RunRecord,
    Suppression,
)
from app.store.oncall_sql import OncallReadsSql, OncallWritesSql
from app.store.outcomes import outcomes_of
from app.store.rows import (
    delivery_of,
    delivery_values,
    event_values,
    listed_events,
    where_equal,
)
from app.store.sqlite_polls import PollReadsSql, PollWritesSql
from app.store.sqlite_shared import SharedReadsSql, SharedWritesSql
from app.store.sqlite_util import rows_for

FINISHED = ("success", "failure", "unstable", "cancelled", "skipped")


class _SqliteTx:
    """What both kinds of transaction share: the connection, the clock, run history."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] | None = None) -> None:
        self._conn = conn
        # Tests of retention compress weeks into seconds by injecting the clock.
        self._clock = clock

    def _now(self) -> float:
        return time.time() if self._clock is None else self._clock()

    def _now_ns(self) -> int:
        return time.time_ns() if self._clock is None else int(self._clock() * 1e9)

    def generation(self, pipeline_key: str) -> int:
        row = self._conn.execute(
            "SELECT generation FROM pipelines WHERE pipeline_key = ?", (pipeline_key,)
        ).fetchone()
        return int(row[0]) if row else 0

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
        # Runs without an order (a source that has none) fall back to arrival order; a
        # run not stored (yet) arrives now.
        rows = self._conn.execute(
            f"""SELECT run_id, run_order, status FROM pipeline_runs
                WHERE pipeline_key = ? AND run_id != ?
                  AND status IN ({",".join("?" * len(FINISHED))})
                  AND (CASE WHEN ? IS NOT NULL AND run_order IS NOT NULL
                            THEN run_order < ?
                            ELSE arrived < coalesce(
                                (SELECT arrived FROM pipeline_runs
                                 WHERE pipeline_key = ? AND run_id = ?), ?) END)
                ORDER BY run_order IS NULL, run_order DESC, arrived DESC
                LIMIT ?""",  # noqa: S608 - only placeholders are interpolated
            (
                pipeline_key,
                run.run_id,
                *FINISHED,
                run.run_order,
                run.run_order,
                pipeline_key,
                run.run_id,
                self._now_ns(),
                limit,
            ),
        ).fetchall()
        return [RunRecord(*r) for r in rows]


class SqliteWriteTx(_SqliteTx, SharedWritesSql, OncallWritesSql, PollWritesSql):
    def remember_delivery(self, key: str) -> bool:
        inserted = self._conn.execute(
            "INSERT OR IGNORE INTO seen_deliveries (key, seen_at) VALUES (?, ?)",
            (key, self._now()),
        )
        return inserted.rowcount == 1

    def save_run(self, pipeline_key: str, run: RunRecord) -> None:
        self._conn.execute(
            """INSERT INTO pipeline_runs (pipeline_key, run_id, run_order, status, arrived)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (pipeline_key, run_id)
               DO UPDATE SET status = excluded.status, run_order = excluded.run_order""",
            (pipeline_key, run.run_id, run.run_order, run.status, self._now_ns()),
        )
        self._conn.execute(
            """INSERT INTO pipelines (pipeline_key, generation) VALUES (?, 1)
               ON CONFLICT (pipeline_key) DO UPDATE SET generation = generation + 1""",
            (pipeline_key,),
        )

    def insert_event(self, event: Event, routing: dict[str, Any]) -> None:
        self._conn.execute(
            """INSERT INTO events
               (id, source, kind, status, fingerprint, received_at, event, routing)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            event_values(event, routing),
        )

    def add_dispatches(self, event_id: str, targets: list[tuple[str, str]]) -> None:
        self._conn.executemany(
            "INSERT OR IGNORE INTO dispatches (event_id, route, receiver) VALUES (?, ?, ?)",
            [(event_id, route, receiver) for route, receiver in targets],
        )

    def insert_delivery(
        self, delivery: DeliveryRecord, dispatched: list[tuple[str, str, str]]
    ) -> bool:
        if self._end_dispatches(dispatched) == 0 and dispatched:
            return False
        self.save_delivery(delivery)
        # Only events still stored: a delivery retried by hand may outlive some of its own.
        self._conn.executemany(
            """INSERT OR IGNORE INTO delivery_events (event_id, delivery_id)
               SELECT id, ? FROM events WHERE id = ?""",
            [(delivery.id, event_id) for event_id in dict.fromkeys(delivery.event_ids)],
        )
        return True

    def save_delivery(self, delivery: DeliveryRecord) -> None:
        self._conn.execute(
            """INSERT INTO deliveries (id, state, receiver, created_at, record)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET state = excluded.state, record = excluded.record""",
            delivery_values(delivery),
        )

    def suppress(self, suppressed: list[Suppression]) -> None:
        at = self._now()
        self._conn.executemany(
            """INSERT INTO suppressed (event_id, route, receiver, stage, reason, at)
               SELECT id, ?, ?, ?, ?, ? FROM events WHERE id = ?""",
            [(s.route, s.receiver, s.stage, s.reason, at, s.event_id) for s in suppressed],
        )
        self._end_dispatches([(s.event_id, s.route, s.receiver) for s in suppressed])

    def _end_dispatches(self, dispatched: list[tuple[str, str, str]]) -> int:
        return self._conn.executemany(
            "DELETE FROM dispatches WHERE event_id = ? AND route = ? AND receiver = ?",
            dispatched,
        ).rowcount

    def prune(self, policy: Retention, now: float, batch: int) -> dict[str, int]:
        removed = retention.prune(self._conn, policy, now, batch)
        return removed | self.prune_oncall(now - policy.silences, now - policy.events, batch)

    def reclaim_space(self, pages: int) -> int:
        return retention.reclaim_space(self._conn, pages)


class SqliteReadTx(_SqliteTx, SharedReadsSql, OncallReadsSql, PollReadsSql):
    def list_events(
        self,
        *,
        limit: int,
        source: str | None = None,
        status: str | None = None,
        event_id: str | None = None,
    ) -> list[dict[str, Any]]:
        where, params = where_equal("?", id=event_id, source=source, status=status)
        rows = self._conn.execute(
            f"SELECT event, routing FROM events {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        ).fetchall()
        return listed_events(rows, lambda ids: outcomes_of(self._conn, ids))

    def count_events(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def events_by_ids(self, ids: list[str]) -> list[Event]:
        found: dict[str, Event] = {}
        # Chunked: SQLite caps the number of bound parameters per statement.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._conn.execute(
                f"SELECT id, event FROM events WHERE id IN ({','.join('?' * len(chunk))})",  # noqa: S608
                chunk,
            ).fetchall()
            found.update((i, Event.model_validate_json(e)) for i, e in rows)
        return [found[i] for i in ids if i in found]

    def events_since(self, *, since: float, kind: str, limit: int) -> list[Event]:
        rows = self._conn.execute(
            """SELECT event FROM (
                   SELECT id, event FROM events WHERE kind = ? AND received_at >= ?
                   ORDER BY id DESC LIMIT ?)
               ORDER BY id""",
            (kind, since, limit),
        ).fetchall()
        return [Event.model_validate_json(r[0]) for r in rows]

    def list_deliveries(self, *, limit: int, state: str | None = None) -> list[DeliveryRecord]:
        if state is None:
            rows = self._conn.execute(
                "SELECT record FROM deliveries ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = self._conn.execute(
                "SELECT record FROM deliveries WHERE state = ? ORDER BY id DESC LIMIT ?",
                (state, limit),
            ).fetchall()
        return [delivery_of(r[0]) for r in rows]

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        row = self._conn.execute(
            "SELECT record FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return delivery_of(row[0]) if row else None

    def open_deliveries(self, receivers: list[str]) -> list[str]:
        sql = "SELECT id FROM deliveries WHERE receiver IN ({ids}) AND state IN (?, ?)"
        return sorted(i for (i,) in rows_for(self._conn, sql, receivers, *OPEN_DELIVERY_STATES))

    def deliveries_by_ids(self, ids: list[str]) -> list[DeliveryRecord]:
        sql = "SELECT id, record FROM deliveries WHERE id IN ({ids})"
        found = {i: delivery_of(record) for i, record in rows_for(self._conn, sql, ids)}
        return [found[i] for i in ids if i in found]

    def open_dispatches(self, receivers: list[str]) -> list[tuple[str, str, str]]:
        sql = "SELECT seq, event_id, route, receiver FROM dispatches WHERE receiver IN ({ids})"
        return [(e, r, c) for _, e, r, c in sorted(rows_for(self._conn, sql, receivers))]

    def running_pipelines(self, *, since: float) -> dict[str, int]:
        rows = self._conn.execute(
            """SELECT pipeline_key, count(*) FROM pipeline_runs
               WHERE status IN ('queued', 'running') AND arrived >= ?
               GROUP BY pipeline_key""",
            (int(since * 1e9),),
        ).fetchall()
        return {key: int(n) for key, n in rows}
