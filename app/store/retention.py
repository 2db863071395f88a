"""The SQL of retention: what may be deleted, in bounded batches, and giving pages back.

Each call deletes at most `batch` rows per table so that one prune never holds the single
writer (and so webhook acknowledgements) for long; the caller repeats until a call
deletes less than a batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.store.base import Retention

# Events still owed something: an open dispatch, or a delivery that may still be sent
# (pending, failed) or re-sent by hand (dead, until its own retention removes it).
_EVENTS = """
DELETE FROM events WHERE rowid IN (
    SELECT e.rowid FROM events e
    WHERE e.received_at < :cutoff
      AND NOT EXISTS (SELECT 1 FROM dispatches d WHERE d.event_id = e.id)
      AND NOT EXISTS (
          SELECT 1 FROM delivery_events de JOIN deliveries dl ON dl.id = de.delivery_id
          WHERE de.event_id = e.id AND dl.state IN ('pending', 'failed', 'dead'))
    LIMIT :batch)
"""

_DELIVERIES = """
DELETE FROM deliveries WHERE rowid IN (
    SELECT rowid FROM deliveries
    WHERE state IN ('sent', 'dead', 'skipped', 'folded') AND created_at < :cutoff
    LIMIT :batch)
"""

_SEEN = """
DELETE FROM seen_deliveries WHERE rowid IN (
    SELECT rowid FROM seen_deliveries WHERE seen_at < :cutoff LIMIT :batch)
"""

# A run older than the cutoff goes when no streak can need it any more: a later success
# (in both arrival and run order) ended its streak, or its pipeline has been quiet since
# the cutoff, or more than `keep` newer runs of its pipeline exist (streaks stop there).
_RUNS = """
DELETE FROM pipeline_runs WHERE rowid IN (
    SELECT r.rowid FROM pipeline_runs r
    WHERE r.arrived < :cutoff
      AND (EXISTS (SELECT 1 FROM pipeline_runs s
                   WHERE s.pipeline_key = r.pipeline_key AND s.status = 'success'
                     AND s.arrived > r.arrived
                     AND (s.run_order IS NULL OR r.run_order IS NULL
                          OR s.run_order > r.run_order))
           OR NOT EXISTS (SELECT 1 FROM pipeline_runs n
                          WHERE n.pipeline_key = r.pipeline_key AND n.arrived >= :cutoff)
           OR r.rowid IN (SELECT rowid FROM (
                  SELECT rowid, row_number() OVER (
                      PARTITION BY pipeline_key ORDER BY arrived DESC) AS newer
                  FROM pipeline_runs) WHERE newer > :keep))
    LIMIT :batch)
"""

# A pipeline none of whose runs is kept any more needs no generation either.
_PIPELINES = """
DELETE FROM pipelines WHERE pipeline_key IN (
    SELECT p.pipeline_key FROM pipelines p
    WHERE NOT EXISTS (SELECT 1 FROM pipeline_runs r WHERE r.pipeline_key = p.pipeline_key)
    LIMIT :batch)
"""

# The bus's shared state (app/store/shared.py): dedup news past its window, sends older
# than any rate-limit window, penalties served, and activities nobody has heard of for a
# day (an alert nobody resolves stops inhibiting others then, as it did in memory).
_NEWS = """
DELETE FROM news WHERE (receiver, route, subject) IN (
    SELECT receiver, route, subject FROM news WHERE expires_at < :cutoff LIMIT :batch)
"""
_SENDS = """
DELETE FROM send_log WHERE rowid IN (
    SELECT rowid FROM send_log WHERE at < :cutoff LIMIT :batch)
"""
_PAUSES = "DELETE FROM pauses WHERE until < :cutoff"
_ACTIVITY = """
DELETE FROM activity WHERE key IN (
    SELECT key FROM activity WHERE heard_at < :cutoff
    UNION SELECT key FROM (SELECT key FROM activity ORDER BY heard_at DESC LIMIT -1 OFFSET :keep)
    LIMIT :batch)
"""
# Longest rate-limit window a send is kept for; the longest sensible `per` is an hour.
SEND_LOG_SECONDS = 86400.0
ACTIVITY_SECONDS = 86400.0
MAX_ACTIVITY = 10_000


@dataclass(frozen=True)
class Rules:
    """One database's DELETE statements for each rule, taking :cutoff and :batch (and
    :keep for runs) in its own placeholder style."""

    deliveries: str
    events: str
    seen_deliveries: str
    pipeline_runs: str
    pipelines: str
    news: str
    send_log: str
    pauses: str
    activity: str  # :keep, the most kept


SQLITE = Rules(_DELIVERIES, _EVENTS, _SEEN, _RUNS, _PIPELINES, _NEWS, _SENDS, _PAUSES, _ACTIVITY)


def prune(conn: sqlite3.Connection, policy: Retention, now: float, batch: int) -> dict[str, int]:
    """Delete up to `batch` expired rows of each table; how many went, by table."""
    return prune_by(
        SQLITE, lambda sql, params: conn.execute(sql, params).rowcount, policy, now, batch
    )


def prune_by(
    rules: Rules,
    execute: Callable[[str, dict[str, Any]], int],
    policy: Retention,
    now: float,
    batch: int,
) -> dict[str, int]:
    """Run `rules` in order through `execute` (statement, parameters -> rows deleted)."""

    def run(sql: str, cutoff: float, **extra: int) -> int:
        return execute(sql, {"cutoff": cutoff, "batch": batch, **extra})

    # Deliveries first: an event of a finished delivery becomes prunable in the same call.
    removed = {"deliveries": run(rules.deliveries, now - policy.deliveries)}
    removed["events"] = run(rules.events, now - policy.events)
    removed["seen_deliveries"] = run(rules.seen_deliveries, now - policy.dedup_keys)
    removed["pipeline_runs"] = run(
        rules.pipeline_runs, int((now - policy.pipeline_runs) * 1e9), keep=policy.keep_runs
    )
    removed["pipelines"] = run(rules.pipelines, 0)
    removed["news"] = run(rules.news, now)
    removed["send_log"] = run(rules.send_log, now - SEND_LOG_SECONDS)
    removed["pauses"] = run(rules.pauses, now)
    removed["activity"] = run(rules.activity, now - ACTIVITY_SECONDS, keep=MAX_ACTIVITY)
    return removed


def reclaim_space(conn: sqlite3.Connection, pages: int) -> int:
    """Give up to `pages` free pages back to the file system; how many were freed.

    Needs auto_vacuum=INCREMENTAL (set when the file is created). Python's sqlite3 steps
    the pragma once per execute, and each step frees one page, hence the loop.
    """
    free = min(pages, int(conn.execute("PRAGMA freelist_count").fetchone()[0]))
    for _ in range(free):
        conn.execute("PRAGMA incremental_vacuum(1)")
    return free
