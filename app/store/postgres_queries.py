"""The SQL behind the store protocol on PostgreSQL (queries.py is SQLite's).

Semantics are SQLite's, statement for statement, with one addition: in a write
transaction `generation()` locks its pipeline's row, so writers of one pipeline take turns
across processes; SQLite's single writer gave that for free.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import psycopg

from app.events import Event
from app.store import postgres_retention
from app.store.base import OPEN_DELIVERY_STATES, DeliveryRecord, Retention, RunRecord, Suppression
from app.store.oncall_sql import OncallReadsSql, OncallWritesSql
from app.store.outcomes import outcomes_fetched
from app.store.postgres_shared import SharedWritesPg, qmark
from app.store.queries import FINISHED
from app.store.rows import (
    delivery_of,
    delivery_values,
    event_values,
    listed_events,
    where_equal,
)
from app.store.sqlite_polls import PollReadsSql, PollWritesSql
from app.store.sqlite_shared import SharedReadsSql

Conn = psycopg.Connection[tuple[Any, ...]]

# The readiness probe writes (and deletes) a row this large, of random bytes: TOAST would
# squeeze zeros into nothing, and then it would not need the space an event does.
PROBE_BYTES = 16 * 1024


class _PgTx:
    """What both kinds of transaction share: the connection, the clock, run history."""

    def __init__(self, conn: Conn, clock: Callable[[], float] | None = None) -> None:
        self.conn = conn
        # The shared state's SQL (postgres_shared.py) speaks with SQLite's placeholders.
        self._conn = qmark(conn)
        # Tests of retention compress weeks into seconds by injecting the clock.
        self._clock = clock

    def _now(self) -> float:
        return time.time() if self._clock is None else self._clock()

    def _now_ns(self) -> int:
        return time.time_ns() if self._clock is None else int(self._clock() * 1e9)

    def _one(self, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> tuple[Any, ...] | None:
        return self.conn.execute(sql, params).fetchone()

    def generation(self, pipeline_key: str) -> int:
        row = self._one("SELECT generation FROM pipelines WHERE pipeline_key = %s", (pipeline_key,))
        return int(row[0]) if row else 0

    def get_run(self, pipeline_key: str, run_id: str) -> RunRecord | None:
        row = self._one(
            "SELECT run_id, run_order, status FROM pipeline_runs"
            " WHERE pipeline_key = %s AND run_id = %s",
            (pipeline_key, run_id),
        )
        return RunRecord(*row) if row else None

    def finished_runs_before(
        self, pipeline_key: str, run: RunRecord, limit: int
    ) -> list[RunRecord]:
        # Runs without an order (a source that has none) fall back to arrival order; a
        # run not stored (yet) arrives now.
        rows = self.conn.execute(
            """SELECT run_id, run_order, status FROM pipeline_runs
               WHERE pipeline_key = %(key)s AND run_id != %(run)s AND status = ANY(%(finished)s)
                 AND (CASE WHEN %(order)s::bigint IS NOT NULL AND run_order IS NOT NULL
                           THEN run_order < %(order)s::bigint
                           ELSE arrived < coalesce(
                               (SELECT arrived FROM pipeline_runs
                                WHERE pipeline_key = %(key)s AND run_id = %(run)s),
                               %(now)s) END)
               ORDER BY run_order IS NULL, run_order DESC, arrived DESC
               LIMIT %(limit)s""",
            {
                "key": pipeline_key,
                "run": run.run_id,
                "finished": list(FINISHED),
                "order": run.run_order,
                "now": self._now_ns(),
                "limit": limit,
            },
        ).fetchall()
        return [RunRecord(*r) for r in rows]


class PgWriteTx(_PgTx, SharedWritesPg, OncallWritesSql, PollWritesSql):
    def generation(self, pipeline_key: str) -> int:
        # Locks the pipeline's row (made at generation 0 if it has none) until commit: a
        # writer on another replica waits here, then reads the generation this one wrote.
        row = self._one(
            """INSERT INTO pipelines (pipeline_key, generation) VALUES (%s, 0)
               ON CONFLICT (pipeline_key) DO UPDATE SET generation = pipelines.generation
               RETURNING generation""",
            (pipeline_key,),
        )
        assert row is not None
        return int(row[0])

    def remember_delivery(self, key: str) -> bool:
        # A replica inserting the same key at once waits for this one's commit, then
        # finds it: exactly one of them remembers it first.
        inserted = self.conn.execute(
            "INSERT INTO seen_deliveries (key, seen_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (key, self._now()),
        )
        return inserted.rowcount == 1

    def save_run(self, pipeline_key: str, run: RunRecord) -> None:
        self.conn.execute(
            """INSERT INTO pipeline_runs (pipeline_key, run_id, run_order, status, arrived)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (pipeline_key, run_id)
               DO UPDATE SET status = excluded.status, run_order = excluded.run_order""",
            (pipeline_key, run.run_id, run.run_order, run.status, self._now_ns()),
        )
        self.conn.execute(
            """INSERT INTO pipelines (pipeline_key, generation) VALUES (%s, 1)
               ON CONFLICT (pipeline_key) DO UPDATE SET generation = pipelines.generation + 1""",
            (pipeline_key,),
        )

    def insert_event(self, event: Event, routing: dict[str, Any]) -> None:
        self.conn.execute(
            """INSERT INTO events
               (id, source, kind, status, fingerprint, received_at, event, routing)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            event_values(event, routing),
        )

    def add_dispatches(self, event_id: str, targets: list[tuple[str, str]]) -> None:
        self.conn.execute(
            """INSERT INTO dispatches (event_id, route, receiver)
               SELECT %s, route, receiver FROM unnest(%s::text[], %s::text[]) AS t(route, receiver)
               ON CONFLICT DO NOTHING""",
            (event_id, [route for route, _ in targets], [receiver for _, receiver in targets]),
        )

    def insert_delivery(
        self, delivery: DeliveryRecord, dispatched: list[tuple[str, str, str]]
    ) -> bool:
        # Ended first: a replica flushing the same dispatch at once waits for this
        # transaction on the row lock, then deletes nothing, and makes no delivery.
        if self._end_dispatches(dispatched) == 0 and dispatched:
            return False
        self.save_delivery(delivery)
        # Only events still stored: a delivery retried by hand may outlive some of its own.
        self.conn.execute(
            """INSERT INTO delivery_events (event_id, delivery_id)
               SELECT id, %s FROM events WHERE id = ANY(%s::text[]) ON CONFLICT DO NOTHING""",
            (delivery.id, list(dict.fromkeys(delivery.event_ids))),
        )
        return True

    def save_delivery(self, delivery: DeliveryRecord) -> None:
        self.conn.execute(
            """INSERT INTO deliveries (id, state, receiver, created_at, record)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET state = excluded.state, record = excluded.record""",
            delivery_values(delivery),
        )

    def suppress(self, suppressed: list[Suppression]) -> None:
        self.conn.execute(
            """INSERT INTO suppressed (event_id, route, receiver, stage, reason, at)
               SELECT e.id, s.route, s.receiver, s.stage, s.reason, %s
               FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
                    AS s(event_id, route, receiver, stage, reason)
               JOIN events e ON e.id = s.event_id""",
            (
                self._now(),
                [s.event_id for s in suppressed],
                [s.route for s in suppressed],
                [s.receiver for s in suppressed],
                [s.stage for s in suppressed],
                [s.reason for s in suppressed],
            ),
        )
        self._end_dispatches([(s.event_id, s.route, s.receiver) for s in suppressed])

    def _end_dispatches(self, dispatched: list[tuple[str, str, str]]) -> int:
        if not dispatched:
            return 0
        return self.conn.execute(
            """DELETE FROM dispatches d
               USING unnest(%s::text[], %s::text[], %s::text[]) AS x(event_id, route, receiver)
               WHERE d.event_id = x.event_id AND d.route = x.route AND d.receiver = x.receiver""",
            tuple(list(column) for column in zip(*dispatched, strict=True)),
        ).rowcount

    def prune(self, policy: Retention, now: float, batch: int) -> dict[str, int]:
        removed = postgres_retention.prune(self.conn, policy, now, batch)
        return removed | self.prune_oncall(now - policy.silences, now - policy.events, batch)

    def reclaim_space(self, pages: int) -> int:
        # Autovacuum makes the space of deleted rows reusable; nothing to hand back here.
        return 0

    def probe(self) -> None:
        """Write a row that needs new space, and delete it (for /readyz)."""
        row = self._one(
            "INSERT INTO readiness_probe (at, pad) VALUES (%s, %s) RETURNING id",
            (self._now(), os.urandom(PROBE_BYTES)),
        )
        assert row is not None
        self.conn.execute("DELETE FROM readiness_probe WHERE id = %s", (row[0],))


class PgReadTx(_PgTx, SharedReadsSql, OncallReadsSql, PollReadsSql):
    def list_events(
        self,
        *,
        limit: int,
        source: str | None = None,
        status: str | None = None,
        event_id: str | None = None,
    ) -> list[dict[str, Any]]:
        where, params = where_equal("%s", id=event_id, source=source, status=status)
        rows = self.conn.execute(
            f"SELECT event, routing FROM events {where} ORDER BY id DESC LIMIT %s",  # noqa: S608
            (*params, limit),
        ).fetchall()
        return listed_events(rows, lambda ids: outcomes_fetched(self._by_event_ids, ids))

    def _by_event_ids(self, sql: str, ids: list[str]) -> list[tuple[Any, ...]]:
        query = sql.format(ids="SELECT unnest(%s::text[])")  # only a placeholder goes in
        return self.conn.execute(query, (ids,)).fetchall()

    def count_events(self) -> int:
        row = self._one("SELECT count(*) FROM events", ())
        assert row is not None
        return int(row[0])

    def events_by_ids(self, ids: list[str]) -> list[Event]:
        rows = self.conn.execute(
            "SELECT id, event FROM events WHERE id = ANY(%s::text[])", (ids,)
        ).fetchall()
        found = {i: Event.model_validate_json(e) for i, e in rows}
        return [found[i] for i in ids if i in found]

    def events_since(self, *, since: float, kind: str, limit: int) -> list[Event]:
        rows = self.conn.execute(
            """SELECT event FROM (
                   SELECT id, event FROM events WHERE kind = %s AND received_at >= %s
                   ORDER BY id DESC LIMIT %s) newest
               ORDER BY id""",
            (kind, since, limit),
        ).fetchall()
        return [Event.model_validate_json(r[0]) for r in rows]

    def list_deliveries(self, *, limit: int, state: str | None = None) -> list[DeliveryRecord]:
        where, params = where_equal("%s", state=state)
        rows = self.conn.execute(
            f"SELECT record FROM deliveries {where} ORDER BY id DESC LIMIT %s",  # noqa: S608
            (*params, limit),
        ).fetchall()
        return [delivery_of(r[0]) for r in rows]

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        row = self._one("SELECT record FROM deliveries WHERE id = %s", (delivery_id,))
        return delivery_of(row[0]) if row else None

    def open_deliveries(self, receivers: list[str]) -> list[str]:
        rows = self.conn.execute(
            """SELECT id FROM deliveries
               WHERE receiver = ANY(%s::text[]) AND state = ANY(%s::text[]) ORDER BY id""",
            (receivers, list(OPEN_DELIVERY_STATES)),
        ).fetchall()
        return [i for (i,) in rows]

    def deliveries_by_ids(self, ids: list[str]) -> list[DeliveryRecord]:
        rows = self.conn.execute(
            "SELECT id, record FROM deliveries WHERE id = ANY(%s::text[])", (ids,)
        ).fetchall()
        found = {i: delivery_of(record) for i, record in rows}
        return [found[i] for i in ids if i in found]

    def open_dispatches(self, receivers: list[str]) -> list[tuple[str, str, str]]:
        rows = self.conn.execute(
            """SELECT event_id, route, receiver FROM dispatches
               WHERE receiver = ANY(%s::text[]) ORDER BY seq""",
            (receivers,),
        ).fetchall()
        return [(e, r, c) for e, r, c in rows]

    def running_pipelines(self, *, since: float) -> dict[str, int]:
        rows = self.conn.execute(
            """SELECT pipeline_key, count(*) FROM pipeline_runs
               WHERE status IN ('queued', 'running') AND arrived >= %s
               GROUP BY pipeline_key""",
            (int(since * 1e9),),
        ).fetchall()
        return {key: int(n) for key, n in rows}
