"""Persistence behind a small protocol: SQLite in the data dir, or a shared PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from app.store.base import (
    OPEN_DELIVERY_STATES,
    DeliveryRecord,
    ReadTx,
    Retention,
    RunHistory,
    RunRecord,
    Store,
    StoreUnavailable,
    Suppression,
    WriteTx,
)
from app.store.sqlite import SqliteStore


def open_store(database_url: str | None, sqlite_path: Path, busy_timeout: float) -> Store:
    """PostgreSQL at `database_url` when one is given, else SQLite at `sqlite_path`."""
    if database_url:
        # Imported here: psycopg and libpq cost every command ~0.1 s to load.
        from app.store.postgres import PostgresStore

        return PostgresStore(database_url, busy_timeout)
    return SqliteStore(sqlite_path, busy_timeout)


__all__ = [
    "OPEN_DELIVERY_STATES",
    "DeliveryRecord",
    "ReadTx",
    "Retention",
    "RunHistory",
    "RunRecord",
    "SqliteStore",
    "Store",
    "StoreUnavailable",
    "Suppression",
    "WriteTx",
    "open_store",
]
