"""The PostgreSQL schema as numbered migrations, applied in order on start.

A `schema_version` table holds how many have been applied; each migration runs in its own
transaction (PostgreSQL's DDL is transactional). Replicas starting together take turns
under an advisory lock, so a migration is never applied twice; a database migrated by a
newer Signalbox (a version this code does not know) is refused rather than guessed at.

The tables are SQLite's (sqlite_schema.py) in PostgreSQL's types. Ids are compared and
ordered byte-wise (COLLATE "C") whatever the database's collation: event and delivery ids
start with their creation time and are listed in that order.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from app.logs import log
from app.store.sqlite_schema import ONCALL_TABLES, POLL_TABLES, SchemaTooNew

_V1_BASE = """
CREATE TABLE events (
    id TEXT COLLATE "C" PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    event TEXT NOT NULL,
    routing TEXT NOT NULL
);
CREATE INDEX events_by_source ON events (source, id);
CREATE INDEX events_by_status ON events (status, id);
CREATE INDEX events_by_time ON events (received_at);
CREATE INDEX events_by_kind ON events (kind, received_at);
CREATE TABLE seen_deliveries (
    key TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX seen_by_time ON seen_deliveries (seen_at);
CREATE TABLE pipeline_runs (
    pipeline_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_order BIGINT,
    status TEXT NOT NULL,
    arrived BIGINT NOT NULL,
    PRIMARY KEY (pipeline_key, run_id)
);
CREATE INDEX runs_by_order ON pipeline_runs (pipeline_key, run_order, arrived);
CREATE INDEX runs_by_arrival ON pipeline_runs (pipeline_key, arrived);
-- A row per pipeline, its generation bumped with every run saved; a write transaction
-- locks it (RunHistory.generation), so writers of one pipeline take turns across replicas.
CREATE TABLE pipelines (
    pipeline_key TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
CREATE TABLE dispatches (
    event_id TEXT NOT NULL,
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    UNIQUE (event_id, route, receiver)
);
CREATE TABLE deliveries (
    id TEXT COLLATE "C" PRIMARY KEY,
    state TEXT NOT NULL,
    receiver TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX deliveries_by_state ON deliveries (state, id);
CREATE INDEX deliveries_by_age ON deliveries (state, created_at);
-- What happened to each event per receiver: the deliveries that carry it, and the
-- dispatches that ended without one (and why). Both go with their event or delivery.
CREATE TABLE delivery_events (
    event_id TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    delivery_id TEXT COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, delivery_id)
);
CREATE INDEX delivery_events_by_delivery ON delivery_events (delivery_id);
CREATE TABLE suppressed (
    event_id TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX suppressed_by_event ON suppressed (event_id);
-- /readyz writes and deletes a row here: a real write, which fails when the server cannot.
CREATE TABLE readiness_probe (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    pad BYTEA NOT NULL
);
"""

# What the bus keeps between restarts and shares between replicas (app/store/shared.py):
# SQLite's migration 5.
_V2_SHARED_STATE = """
CREATE TABLE news (
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    subject TEXT NOT NULL,
    news TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (receiver, route, subject)
);
CREATE INDEX news_by_expiry ON news (expires_at);
CREATE TABLE groups (
    key TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    labels TEXT NOT NULL,
    order_key TEXT NOT NULL,
    firing TEXT NOT NULL,
    last_sent DOUBLE PRECISION NOT NULL
);
CREATE INDEX groups_by_receiver ON groups (receiver);
CREATE TABLE send_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receiver TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX send_log_by_receiver ON send_log (receiver, at);
CREATE INDEX send_log_by_time ON send_log (at);
CREATE TABLE pauses (
    receiver TEXT PRIMARY KEY,
    until DOUBLE PRECISION NOT NULL
);
CREATE TABLE activity (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    labels TEXT NOT NULL,
    heard_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX activity_by_time ON activity (heard_at);
CREATE TABLE leases (
    receiver TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE replicas (
    owner TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX events_by_fingerprint ON events (fingerprint, received_at);
CREATE INDEX dispatches_by_receiver ON dispatches (receiver, seq);
CREATE INDEX deliveries_by_receiver ON deliveries (receiver, state);
"""

# What the CI pollers keep between polls and share between replicas (app/store/polls.py):
# SQLite's migration 6, in PostgreSQL's types (the API's rate count may pass 2^31).
_V3_POLLS = (
    POLL_TABLES.replace(" REAL", " DOUBLE PRECISION")
    .replace(" WITHOUT ROWID", "")
    .replace("rate_remaining INTEGER", "rate_remaining BIGINT")
)

# The on-call loop: SQLite's migration 7, in PostgreSQL's types.
_V4_ONCALL = ONCALL_TABLES.replace(" REAL", " DOUBLE PRECISION") + (  # noqa: S608 - constants
    "INSERT INTO oncall_state (id, version, nonce)"
    " VALUES (1, 0, substr(md5(random()::text), 1, 16));"
)

MIGRATIONS: tuple[str, ...] = (_V1_BASE, _V2_SHARED_STATE, _V3_POLLS, _V4_ONCALL)

# pg_advisory_lock's key for "migrating Signalbox's schema": any constant of our own.
MIGRATION_LOCK = 0x5167_6E61_6C62_6F78  # "Sgnalbox"

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton)
)
"""


def migrate(
    conn: psycopg.Connection[Any], where: str, migrations: tuple[str, ...] = MIGRATIONS
) -> int:
    """Bring the database's schema up to `migrations`; the version it ends at.

    `conn` is in autocommit mode; `where` names the database in messages (no password).
    """
    if not _one(conn, "SELECT pg_try_advisory_lock(%s)", MIGRATION_LOCK):
        log(logging.INFO, "waiting for another replica to finish migrating", db=where)
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        with conn.transaction():
            conn.execute(_VERSION_TABLE)
            conn.execute("INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING")
        current = int(_one(conn, "SELECT version FROM schema_version"))
        if current > len(migrations):
            raise SchemaTooNew(where, current, len(migrations))
        for version in range(current, len(migrations)):
            with conn.transaction():
                conn.execute(migrations[version])
                conn.execute("UPDATE schema_version SET version = %s", (version + 1,))
            log(logging.INFO, "database schema migrated", db=where, version=version + 1)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return len(migrations)


def _one(conn: psycopg.Connection[Any], sql: str, *params: object) -> Any:
    row = conn.execute(sql, params or None).fetchone()
    assert row is not None
    return row[0]
