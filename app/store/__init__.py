"""Persistence behind a small protocol; SQLite today, another backend later."""

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
]
