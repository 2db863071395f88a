"""The SQLite schema as numbered migrations, applied in order on start.

`PRAGMA user_version` holds how many have been applied. Each migration runs in its own
transaction; a file written by a newer Signalbox (a higher version than this code knows)
is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_V1_BASE = """
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
CREATE INDEX IF NOT EXISTS events_by_time ON events (received_at);
CREATE TABLE IF NOT EXISTS seen_deliveries (
    key TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_by_time ON seen_deliveries (seen_at);
CREATE TABLE IF NOT EXISTS pipeline_runs (
    pipeline_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_order INTEGER,
    status TEXT NOT NULL,
    arrived INTEGER NOT NULL,
    PRIMARY KEY (pipeline_key, run_id)
);
CREATE INDEX IF NOT EXISTS runs_by_order ON pipeline_runs (pipeline_key, run_order, arrived);
CREATE TABLE IF NOT EXISTS dispatches (
    event_id TEXT NOT NULL,
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    UNIQUE (event_id, route, receiver)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    receiver TEXT NOT NULL,
    created_at REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state, id);
CREATE INDEX IF NOT EXISTS deliveries_by_age ON deliveries (state, created_at);
"""

# What happened to each event per receiver: the deliveries that carry it, and the
# dispatches that ended without one (and why). Both go with their event or delivery.
_V2_OUTCOMES = """
CREATE TABLE delivery_events (
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, delivery_id)
) WITHOUT ROWID;
CREATE INDEX delivery_events_by_delivery ON delivery_events (delivery_id);
INSERT OR IGNORE INTO delivery_events (event_id, delivery_id)
    SELECT j.value, d.id FROM deliveries d, json_each(d.record, '$.event_ids') j
    WHERE j.value IN (SELECT id FROM events);
CREATE TABLE suppressed (
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX suppressed_by_event ON suppressed (event_id);
"""

# /readyz writes and deletes a row here: a real write, which fails on a full disk.
_V3_READINESS = """
CREATE TABLE IF NOT EXISTS readiness_probe (at REAL NOT NULL, pad BLOB NOT NULL);
"""

# A counter per pipeline, bumped with every run saved: the writer compares it with the one
# a verdict was judged at, instead of judging again.
_V4_PIPELINE_GENERATIONS = """
CREATE TABLE pipelines (
    pipeline_key TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO pipelines (pipeline_key, generation)
    SELECT pipeline_key, count(*) FROM pipeline_runs GROUP BY pipeline_key;
"""

# What the bus keeps between restarts and shares between replicas (app/store/shared.py).
_V5_SHARED_STATE = """
CREATE TABLE news (
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    subject TEXT NOT NULL,
    news TEXT NOT NULL,
    expires_at REAL NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (receiver, route, subject)
) WITHOUT ROWID;
CREATE INDEX news_by_expiry ON news (expires_at);
CREATE TABLE groups (
    key TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    receiver TEXT NOT NULL,
    labels TEXT NOT NULL,
    order_key TEXT NOT NULL,
    firing TEXT NOT NULL,
    last_sent REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX groups_by_receiver ON groups (receiver);
CREATE TABLE send_log (
    receiver TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX send_log_by_receiver ON send_log (receiver, at);
CREATE TABLE pauses (
    receiver TEXT PRIMARY KEY,
    until REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE activity (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    labels TEXT NOT NULL,
    heard_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX activity_by_time ON activity (heard_at);
CREATE TABLE leases (
    receiver TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE replicas (
    owner TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_by_fingerprint ON events (fingerprint, received_at);
CREATE INDEX dispatches_by_receiver ON dispatches (receiver, seq);
CREATE INDEX deliveries_by_receiver ON deliveries (receiver, state);
"""

# What the CI pollers keep between polls and share between replicas (app/store/polls.py).
POLL_TABLES = """
CREATE TABLE poll_targets (
    target TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    last_attempt REAL,
    last_success REAL,
    retry_at REAL NOT NULL,
    failures INTEGER NOT NULL,
    last_error TEXT,
    owner TEXT,
    lease_until REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE poll_sources (
    source TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    down_since REAL,
    paused_until REAL NOT NULL,
    pause_reason TEXT,
    last_error TEXT,
    rate_remaining INTEGER,
    rate_reset REAL
) WITHOUT ROWID;
"""

# The on-call loop (app/store/oncall.py): silences, acknowledgements, escalation steps,
# when each subject's trouble last ended (an ack of trouble over since is refused), the
# version the cached view of silences and acks is checked against (its nonce tells one
# database from another), and the key that signs acknowledgement links.
ONCALL_TABLES = """
CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
CREATE TABLE acks (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    event_id TEXT NOT NULL,
    by_whom TEXT NOT NULL,
    comment TEXT NOT NULL,
    at REAL NOT NULL,
    ended_at REAL,
    ended_by TEXT
);
CREATE INDEX acks_by_subject ON acks (subject, ended_at);
CREATE INDEX acks_by_time ON acks (at);
CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    route TEXT NOT NULL,
    step INTEGER NOT NULL,
    receiver TEXT NOT NULL,
    event_id TEXT NOT NULL,
    after_s REAL NOT NULL,
    due_at REAL NOT NULL,
    state TEXT NOT NULL,
    note TEXT,
    done_at REAL,
    closed INTEGER NOT NULL
);
CREATE UNIQUE INDEX escalations_open
    ON escalations (subject, incarnation, route, step, receiver) WHERE closed = 0;
CREATE INDEX escalations_pending ON escalations (state, receiver, due_at);
CREATE INDEX escalations_by_event ON escalations (event_id);
CREATE INDEX escalations_by_subject ON escalations (subject, closed);
CREATE TABLE trouble_ends (
    subject TEXT PRIMARY KEY,
    ended_at REAL NOT NULL,
    why TEXT NOT NULL
);
CREATE TABLE oncall_state (
    id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    nonce TEXT NOT NULL
);
CREATE TABLE signing_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);
"""
_V7_ONCALL = ONCALL_TABLES + (  # noqa: S608 - constants
    "INSERT INTO oncall_state (id, version, nonce) VALUES (1, 0, lower(hex(randomblob(8))));"
)

MIGRATIONS: tuple[str, ...] = (
    _V1_BASE,
    _V2_OUTCOMES,
    _V3_READINESS,
    _V4_PIPELINE_GENERATIONS,
    _V5_SHARED_STATE,
    POLL_TABLES,
    _V7_ONCALL,
)


class SchemaTooNew(Exception):
    """The database was written by a newer Signalbox than this one."""

    def __init__(self, where: object, version: int, known: int) -> None:
        super().__init__(
            f"{where} has schema version {version}, newer than this Signalbox knows "
            f"({known}): run the newer version, or restore a backup"
        )


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the file's schema up to this code's version; the version it ends at."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        raise SchemaTooNew(path, current, len(MIGRATIONS))
    for version in range(current, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
