"""Retention's SQL on PostgreSQL (retention.py is SQLite's): the same rules, by key.

Each call deletes at most `batch` rows per table, so a prune never holds row locks that
webhooks wait on for long; the caller repeats until a call deletes less than a batch.
Replicas may prune at once: they delete the same rows, and the second finds them gone.
Autovacuum makes the space reusable; nothing is handed back to the file system by hand.
"""

from __future__ import annotations

from typing import Any

import psycopg

from app.store.base import Retention
from app.store.retention import Rules, prune_by

# Events still owed something: an open dispatch, or a delivery that may still be sent
# (pending, failed) or re-sent by hand (dead, until its own retention removes it).
_EVENTS = """
DELETE FROM events WHERE id IN (
    SELECT e.id FROM events e
    WHERE e.received_at < %(cutoff)s
      AND NOT EXISTS (SELECT 1 FROM dispatches d WHERE d.event_id = e.id)
      AND NOT EXISTS (
          SELECT 1 FROM delivery_events de JOIN deliveries dl ON dl.id = de.delivery_id
          WHERE de.event_id = e.id AND dl.state IN ('pending', 'failed', 'dead'))
    LIMIT %(batch)s)
"""

_DELIVERIES = """
DELETE FROM deliveries WHERE id IN (
    SELECT id FROM deliveries
    WHERE state IN ('sent', 'dead', 'skipped', 'folded') AND created_at < %(cutoff)s
    LIMIT %(batch)s)
"""

_SEEN = """
DELETE FROM seen_deliveries WHERE key IN (
    SELECT key FROM seen_deliveries WHERE seen_at < %(cutoff)s LIMIT %(batch)s)
"""

# A run older than the cutoff goes when no streak can need it any more: a later success
# (in both arrival and run order) ended its streak, or its pipeline has been quiet since
# the cutoff, or more than `keep` newer runs of its pipeline exist (streaks stop there).
_RUNS = """
DELETE FROM pipeline_runs d USING (
    SELECT r.pipeline_key, r.run_id FROM pipeline_runs r
    WHERE r.arrived < %(cutoff)s
      AND (EXISTS (SELECT 1 FROM pipeline_runs s
                   WHERE s.pipeline_key = r.pipeline_key AND s.status = 'success'
                     AND s.arrived > r.arrived
                     AND (s.run_order IS NULL OR r.run_order IS NULL
                          OR s.run_order > r.run_order))
           OR NOT EXISTS (SELECT 1 FROM pipeline_runs n
                          WHERE n.pipeline_key = r.pipeline_key AND n.arrived >= %(cutoff)s)
           OR (r.pipeline_key, r.run_id) IN (
                  SELECT pipeline_key, run_id FROM (
                      SELECT pipeline_key, run_id, row_number() OVER (
                          PARTITION BY pipeline_key ORDER BY arrived DESC) AS newer
                      FROM pipeline_runs) ranked
                  WHERE newer > %(keep)s))
    LIMIT %(batch)s) gone
WHERE d.pipeline_key = gone.pipeline_key AND d.run_id = gone.run_id
"""

# A pipeline none of whose runs is kept any more needs no generation either. A row locked
# by a writer (saving a run of it right now) is skipped: its generation is in use.
_PIPELINES = """
DELETE FROM pipelines WHERE pipeline_key IN (
    SELECT p.pipeline_key FROM pipelines p
    WHERE NOT EXISTS (SELECT 1 FROM pipeline_runs r WHERE r.pipeline_key = p.pipeline_key)
    LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
"""


# The bus's shared state, as retention.py says.
_NEWS = """
DELETE FROM news WHERE (receiver, route, subject) IN (
    SELECT receiver, route, subject FROM news WHERE expires_at < %(cutoff)s LIMIT %(batch)s)
"""
_SENDS = """
DELETE FROM send_log WHERE id IN (
    SELECT id FROM send_log WHERE at < %(cutoff)s LIMIT %(batch)s)
"""
_PAUSES = "DELETE FROM pauses WHERE until < %(cutoff)s"
_ACTIVITY = """
DELETE FROM activity WHERE key IN (
    SELECT key FROM activity WHERE heard_at < %(cutoff)s
    UNION SELECT key FROM (SELECT key FROM activity ORDER BY heard_at DESC OFFSET %(keep)s) old
    LIMIT %(batch)s)
"""

POSTGRES = Rules(_DELIVERIES, _EVENTS, _SEEN, _RUNS, _PIPELINES, _NEWS, _SENDS, _PAUSES, _ACTIVITY)


def prune(
    conn: psycopg.Connection[Any], policy: Retention, now: float, batch: int
) -> dict[str, int]:
    """Delete up to `batch` expired rows of each table; how many went, by table."""
    return prune_by(
        POSTGRES, lambda sql, params: conn.execute(sql, params).rowcount, policy, now, batch
    )
