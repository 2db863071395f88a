"""The SQL of the pollers' state (app/store/polls.py), portable: PostgreSQL runs it too.

Written with SQLite's `?` placeholders; PostgreSQL runs the same statements through
postgres_shared.qmark. A claim changes hands in one UPDATE … WHERE, which PostgreSQL
re-checks on the row as another replica's transaction left it: of two replicas claiming
one target at once, one gets it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from app.store.polls import PollTarget, SourceHealth
from app.store.sqlite_util import rows_for

_TARGET_COLUMNS = """target, source, state, last_attempt, last_success, retry_at, failures,
                     last_error, owner, lease_until"""
_HEALTH_COLUMNS = """source, failures, down_since, paused_until, pause_reason, last_error,
                     rate_remaining, rate_reset"""


def _target(row: tuple[Any, ...]) -> PollTarget:
    target, source, state, attempt, success, retry_at, failures, error, owner, lease = row
    return PollTarget(
        target,
        source,
        orjson.loads(state),
        attempt,
        success,
        float(retry_at),
        int(failures),
        error,
        owner,
        float(lease),
    )


def _health(row: tuple[Any, ...]) -> SourceHealth:
    source, failures, down, paused, reason, error, remaining, reset = row
    return SourceHealth(source, int(failures), down, float(paused), reason, error, remaining, reset)


class PollWritesSql:
    _conn: sqlite3.Connection

    def claim_poll(
        self,
        target: str,
        source: str,
        owner: str,
        now: float,
        ttl: float,
        due_before: float | None,
    ) -> PollTarget | None:
        self._conn.execute(
            """INSERT INTO poll_targets (target, source, state, retry_at, failures, lease_until)
               VALUES (?, ?, '{}', 0, 0, 0) ON CONFLICT (target) DO NOTHING""",
            (target, source),
        )
        due = ""
        params: tuple[Any, ...] = (owner, now + ttl, target, now, owner)
        if due_before is not None:
            due = "AND (last_attempt IS NULL OR last_attempt <= ?) AND retry_at <= ?"
            params += (due_before, now)
        row = self._conn.execute(
            f"""UPDATE poll_targets SET owner = ?, lease_until = ?
                WHERE target = ? AND (lease_until <= ? OR owner = ?) {due}
                RETURNING {_TARGET_COLUMNS}""",  # noqa: S608 - only SQL text of ours
            params,
        ).fetchone()
        return _target(row) if row else None

    def finish_poll(self, owner: str, done: PollTarget) -> PollTarget | None:
        row = self._conn.execute(
            f"SELECT {_TARGET_COLUMNS} FROM poll_targets WHERE target = ? AND owner = ?",  # noqa: S608
            (done.target, owner),
        ).fetchone()
        if row is None:
            return None
        saved = self._conn.execute(
            """UPDATE poll_targets SET state = ?, last_attempt = ?, last_success = ?,
                   retry_at = ?, failures = ?, last_error = ?, owner = NULL, lease_until = 0
               WHERE target = ? AND owner = ?""",
            (
                orjson.dumps(done.state).decode(),
                done.last_attempt,
                done.last_success,
                done.retry_at,
                done.failures,
                done.last_error,
                done.target,
                owner,
            ),
        ).rowcount
        return _target(row) if saved else None

    def release_polls(self, owner: str) -> None:
        self._conn.execute(
            "UPDATE poll_targets SET owner = NULL, lease_until = 0 WHERE owner = ?", (owner,)
        )

    def lock_source_health(self, source: str) -> SourceHealth:
        # The no-op update takes the row's lock on PostgreSQL (SQLite has one writer).
        row = self._conn.execute(
            f"""INSERT INTO poll_sources (source, failures, paused_until) VALUES (?, 0, 0)
                ON CONFLICT (source) DO UPDATE SET source = excluded.source
                RETURNING {_HEALTH_COLUMNS}""",  # noqa: S608 - only SQL text of ours
            (source,),
        ).fetchone()
        return _health(row)

    def save_source_health(self, health: SourceHealth) -> None:
        self._conn.execute(
            """UPDATE poll_sources SET failures = ?, down_since = ?, paused_until = ?,
                   pause_reason = ?, last_error = ?, rate_remaining = ?, rate_reset = ?
               WHERE source = ?""",
            (
                health.failures,
                health.down_since,
                health.paused_until,
                health.pause_reason,
                health.last_error,
                health.rate_remaining,
                health.rate_reset,
                health.source,
            ),
        )


class PollReadsSql:
    _conn: sqlite3.Connection

    def poll_targets(self, targets: list[str]) -> list[PollTarget]:
        sql = f"SELECT {_TARGET_COLUMNS} FROM poll_targets WHERE target IN ({{ids}})"  # noqa: S608
        return [_target(row) for row in rows_for(self._conn, sql, targets)]

    def sources_health(self) -> list[SourceHealth]:
        rows = self._conn.execute(
            f"SELECT {_HEALTH_COLUMNS} FROM poll_sources ORDER BY source"  # noqa: S608
        ).fetchall()
        return [_health(row) for row in rows]
