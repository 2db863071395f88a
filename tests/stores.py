"""The two stores a test can run on: a fresh SQLite file, or a fresh PostgreSQL database.

A Backend makes stores on its one database (two stores on it are two replicas), and lets
a test look at the rows with SQL of its own, as an operator with psql or sqlite3 would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import psycopg

from app.store import Store
from app.store.postgres import PostgresStore
from app.store.sqlite import SqliteStore
from pgserver import PgServer

Clock = Callable[[], float] | None


class Backend(Protocol):
    name: str

    def store(self, *, busy_timeout: float = 30.0, clock: Clock = None) -> Store:
        """A new store (not started) on this backend's database."""
        ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows a query returns, from a connection of the test's own."""
        ...

    def size(self) -> int:
        """Bytes the database takes once its housekeeping caught up (a WAL checkpoint,
        a vacuum), as it does by itself within a minute."""
        ...

    def settings(self) -> dict[str, Any]:
        """Settings fields that make the service use this database."""
        ...


def count(backend: Backend, table: str) -> int:
    return int(backend.rows(f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608


class SqliteBackend:
    name = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "signalbox.db"

    def store(self, *, busy_timeout: float = 30.0, clock: Clock = None) -> SqliteStore:
        return SqliteStore(self.path, busy_timeout, clock)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            return db.execute(sql).fetchall()

    def size(self) -> int:
        with sqlite3.connect(self.path) as db:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return self.path.stat().st_size

    def settings(self) -> dict[str, Any]:
        return {"data_dir": self.data_dir}


class PostgresBackend:
    name = "postgres"

    def __init__(self, server: PgServer, url: str) -> None:
        self.server = server
        self.url = url

    def store(self, *, busy_timeout: float = 30.0, clock: Clock = None) -> PostgresStore:
        return PostgresStore(self.url, busy_timeout, clock, connect_wait=0)

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url, autocommit=True)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            return conn.execute(sql).fetchall()

    def size(self) -> int:
        with self.connect() as conn:
            conn.execute("VACUUM")
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        return int(row[0])

    def settings(self) -> dict[str, Any]:
        return {"database_url": self.url}
