"""The bus's shared state (app/store/shared.py) on PostgreSQL: sqlite_shared.py's SQL.

Those statements are portable SQL but for SQLite's `?` placeholders, so they run here as
they are, through a connection that takes `?`; only what PostgreSQL words otherwise is
overridden. Replicas run them at once: a lease changes hands in one INSERT … ON CONFLICT
DO UPDATE … WHERE, which PostgreSQL applies to the row as it is once the other replica's
transaction has ended, so of two replicas taking one lapsed lease, one gets it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, cast

import psycopg

from app.store.sqlite_shared import SharedWritesSql


class Qmark:
    """A psycopg connection taking `?` placeholders, for the methods sqlite_shared.py uses."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[tuple[Any, ...]]:
        return self._conn.execute(_pg(sql), params)

    def executemany(
        self, sql: str, rows: Sequence[Sequence[Any]]
    ) -> psycopg.Cursor[tuple[Any, ...]]:
        cursor = self._conn.cursor()
        cursor.executemany(_pg(sql), rows)
        return cursor


def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def qmark(conn: psycopg.Connection[tuple[Any, ...]]) -> sqlite3.Connection:
    # Typed as what sqlite_shared.py expects: Qmark has the part of it that it calls.
    return cast(sqlite3.Connection, Qmark(conn))


class SharedWritesPg(SharedWritesSql):
    def pause_receiver(self, receiver: str, until: float) -> None:
        # PostgreSQL's max() is an aggregate only: greatest() compares two values.
        self._conn.execute(
            """INSERT INTO pauses (receiver, until) VALUES (?, ?)
               ON CONFLICT (receiver) DO UPDATE
               SET until = greatest(pauses.until, excluded.until)""",
            (receiver, until),
        )
