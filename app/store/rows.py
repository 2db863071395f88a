"""What the SQL of both databases shares: a row's values, its JSON, a listing's filters."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from app.events import Event
from app.store.base import DeliveryRecord

Outcomes = dict[str, list[dict[str, Any]]]


def to_json(value: dict[str, Any]) -> str:
    # orjson: rows are written for every event and delivery, json.dumps was a tenth of that.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def delivery_of(record_json: str) -> DeliveryRecord:
    return DeliveryRecord(**json.loads(record_json))


def event_values(event: Event, routing: dict[str, Any]) -> tuple[Any, ...]:
    """An event row's (id, source, kind, status, fingerprint, received_at, event, routing)."""
    return (
        event.id,
        event.source,
        event.kind,
        event.status,
        event.fingerprint,
        event.received_at.timestamp(),
        event.model_dump_json(),
        to_json(routing),
    )


def delivery_values(delivery: DeliveryRecord) -> tuple[Any, ...]:
    """A delivery row's (id, state, receiver, created_at, record)."""
    # vars(), not asdict(): no deep copy, and every field is JSON already.
    return (
        delivery.id,
        delivery.state,
        delivery.receiver,
        delivery.created_at,
        to_json(vars(delivery)),
    )


def where_equal(mark: str, **columns: str | None) -> tuple[str, list[str]]:
    """`WHERE a = <mark> AND …` for the columns given a value (none: ""), and the values."""
    given = {column: value for column, value in columns.items() if value is not None}
    clauses = " AND ".join(f"{column} = {mark}" for column in given)
    return (f"WHERE {clauses}" if given else ""), list(given.values())


def listed_events(
    rows: Sequence[tuple[str, str]], outcomes_of: Callable[[list[str]], Outcomes]
) -> list[dict[str, Any]]:
    """(event, routing) JSON rows as list_events gives them, with their outcomes."""
    out = []
    for event_json, routing_json in rows:
        item: dict[str, Any] = json.loads(event_json)
        item["routing"] = json.loads(routing_json)
        out.append(item)
    outcomes = outcomes_of([item["id"] for item in out])
    for item in out:
        item["outcomes"] = outcomes.get(item["id"], [])
    return out
