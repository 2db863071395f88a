"""Small SQLite helpers the query modules share."""

from __future__ import annotations

import sqlite3
from typing import Any

# SQLite caps the number of bound parameters per statement.
_CHUNK = 500


def rows_for(conn: sqlite3.Connection, sql: str, ids: list[str], *after: Any) -> list[Any]:
    """Rows of `sql` for every id, asked a chunk at a time: `sql` has `IN ({ids})`, and
    `after` are the parameters that follow the ids."""
    rows: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = sql.format(ids=",".join("?" * len(chunk)))  # only placeholders go in
        rows += conn.execute(query, (*chunk, *after)).fetchall()
    return rows
