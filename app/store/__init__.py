"""Persistence behind a small protocol; SQLite today, another backend later."""

from app.store.base import ReadTx, RunRecord, Store, StoreUnavailable, WriteTx
from app.store.sqlite import SqliteStore

__all__ = ["ReadTx", "RunRecord", "SqliteStore", "Store", "StoreUnavailable", "WriteTx"]
