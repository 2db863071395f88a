"""What happened to each event, per receiver: the answer to "why did nobody get this?".

Read from three places: the deliveries that carry the event (sent, retrying, dead,
folded into a digest, skipped), the suppressions recorded when a stage decided not to
tell (deduplicated, muted, inhibited, stale, old news), and dispatches still waiting in a
group.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from app.store.sqlite_util import rows_for

Outcome = dict[str, Any]
# Runs one of the queries below for some event ids: `{ids}` stands for their list.
Fetch = Callable[[str, list[str]], list[tuple[Any, ...]]]


_DELIVERIES = """SELECT de.event_id, d.record FROM delivery_events de
    JOIN deliveries d ON d.id = de.delivery_id WHERE de.event_id IN ({ids})"""
_SUPPRESSED = """SELECT event_id, route, receiver, stage, reason, at FROM suppressed
    WHERE event_id IN ({ids})"""
_WAITING = "SELECT event_id, route, receiver FROM dispatches WHERE event_id IN ({ids})"


def outcomes_of(conn: sqlite3.Connection, event_ids: list[str]) -> dict[str, list[Outcome]]:
    """Every event's outcomes, oldest first, from a SQLite connection."""
    return outcomes_fetched(lambda sql, ids: rows_for(conn, sql, ids), event_ids)


def outcomes_fetched(fetch: Fetch, event_ids: list[str]) -> dict[str, list[Outcome]]:
    """Every event's outcomes, oldest first, from rows `fetch` reads (any database)."""
    found: dict[str, list[tuple[str, Outcome]]] = defaultdict(list)
    for event_id, record in fetch(_DELIVERIES, event_ids):
        delivery = json.loads(record)
        found[event_id].append((delivery["id"], delivered(delivery)))
    for event_id, route, receiver, stage, reason, at in fetch(_SUPPRESSED, event_ids):
        outcome = {
            "receiver": receiver,
            "route": route,
            "outcome": "suppressed",
            "stage": stage,
            "detail": reason,
            "at": at,
        }
        # Sorted with delivery ids, which start with their creation time in nanoseconds.
        found[event_id].append((f"{int(at * 1e9):019d}", outcome))
    for event_id, route, receiver in fetch(_WAITING, event_ids):
        waiting = {
            "receiver": receiver,
            "route": route,
            "outcome": "waiting",
            "detail": "waiting in its group for group_wait or group_interval",
        }
        found[event_id].append(("~", waiting))
    return {key: [o for _, o in sorted(items, key=_first)] for key, items in found.items()}


def _first(item: tuple[str, Outcome]) -> str:
    return item[0]


def delivered(delivery: dict[str, Any]) -> Outcome:
    """One delivery's part in an event's story."""
    state = delivery["state"]
    detail = delivery.get("last_error")
    if state == "folded":
        detail = f"folded into digest {delivery.get('folded_into')}"
    elif state in ("sent", "skipped") and delivery.get("attempts"):
        detail = delivery["attempts"][-1].get("detail")
    told: Outcome = {
        "receiver": delivery["receiver"],
        "route": delivery["route"],
        "outcome": state,
        "delivery_id": delivery["id"],
        "is_fallback": delivery.get("is_fallback", False),
        "detail": detail,
        "next_attempt_at": delivery.get("next_attempt_at"),
    }
    if delivery.get("note"):
        # Sent by the on-call loop: "escalated: not acknowledged for 10m", "acknowledged by …".
        told["note"] = delivery["note"]
    return told
