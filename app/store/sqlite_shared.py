"""The SQL of the bus's shared state (app/store/shared.py) on SQLite."""

from __future__ import annotations

import sqlite3

import orjson

from app.store.shared import Activity, GroupState, News
from app.store.sqlite_util import rows_for


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


class SharedWritesSql:
    _conn: sqlite3.Connection

    def remember_news(self, news: list[News]) -> None:
        self._conn.executemany(
            """INSERT INTO news (route, receiver, subject, news, expires_at, event_id)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (receiver, route, subject) DO UPDATE SET
                   news = excluded.news, expires_at = excluded.expires_at,
                   event_id = excluded.event_id""",
            [(n.route, n.receiver, n.subject, n.news, n.expires_at, n.event_id) for n in news],
        )

    def forget_news(self, keys: list[tuple[str, str, str]]) -> None:
        self._conn.executemany(
            "DELETE FROM news WHERE route = ? AND receiver = ? AND subject = ?", keys
        )

    def save_group(self, group: GroupState) -> None:
        self._conn.execute(
            """INSERT INTO groups (key, route, receiver, labels, order_key, firing, last_sent)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET
                   firing = excluded.firing, last_sent = excluded.last_sent""",
            (
                group.key,
                group.route,
                group.receiver,
                _json(group.labels),
                group.order_key,
                _json(group.firing),
                group.last_sent,
            ),
        )

    def drop_group(self, key: str) -> None:
        self._conn.execute("DELETE FROM groups WHERE key = ?", (key,))

    def log_sends(self, receiver: str, times: list[float]) -> None:
        self._conn.executemany(
            "INSERT INTO send_log (receiver, at) VALUES (?, ?)", [(receiver, t) for t in times]
        )

    def pause_receiver(self, receiver: str, until: float) -> None:
        self._conn.execute(
            """INSERT INTO pauses (receiver, until) VALUES (?, ?)
               ON CONFLICT (receiver) DO UPDATE SET until = max(until, excluded.until)""",
            (receiver, until),
        )

    def track_activity(self, activity: list[Activity], now: float) -> None:
        started = [a for a in activity if a.active]
        self._conn.executemany(
            """INSERT INTO activity (key, event_id, labels, heard_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id,
                   labels = excluded.labels, heard_at = excluded.heard_at""",
            [(a.key, a.event_id, _json(a.labels), now) for a in started],
        )
        self._conn.executemany(
            "DELETE FROM activity WHERE key = ?", [(a.key,) for a in activity if not a.active]
        )

    def hold_leases(
        self, owner: str, receivers: list[str], share: int, now: float, ttl: float
    ) -> dict[str, float]:
        until = now + ttl
        # Renew what this owner holds, then take lapsed or unheld leases while under its share.
        self._conn.execute(
            "UPDATE leases SET expires_at = ? WHERE owner = ? AND expires_at > ?",
            (until, owner, now),
        )
        wanted = set(receivers)
        mine = self._conn.execute(
            "SELECT receiver, expires_at > ? FROM leases WHERE owner = ?", (now, owner)
        ).fetchall()
        held = {r for r, valid in mine if valid and r in wanted}
        # Its own lapsed leases first (the store was down for it): nobody else has taken
        # them yet, and they must not be left to lapse for ever under a full share.
        lapsed_mine = {r for r, valid in mine if not valid}
        for receiver in sorted(receivers, key=lambda r: r not in lapsed_mine):
            if len(held) >= share:
                break
            if receiver in held:
                continue
            taken = self._conn.execute(
                """INSERT INTO leases (receiver, owner, expires_at) VALUES (?, ?, ?)
                   ON CONFLICT (receiver) DO UPDATE SET owner = excluded.owner,
                       expires_at = excluded.expires_at
                   WHERE leases.expires_at <= ? OR leases.owner = excluded.owner""",
                (receiver, owner, until, now),
            ).rowcount
            if taken:
                held.add(receiver)
        rows = self._conn.execute(
            "SELECT receiver, expires_at FROM leases WHERE owner = ? AND expires_at > ?",
            (owner, now),
        ).fetchall()
        return {r: float(t) for r, t in rows if r in held}

    def release_leases(self, owner: str, receivers: list[str] | None = None) -> None:
        if receivers is None:
            self._conn.execute("DELETE FROM leases WHERE owner = ?", (owner,))
            return
        self._conn.executemany(
            "DELETE FROM leases WHERE owner = ? AND receiver = ?",
            [(owner, r) for r in receivers],
        )

    def heartbeat(self, owner: str, now: float, ttl: float) -> int:
        self._conn.execute(
            """INSERT INTO replicas (owner, seen_at) VALUES (?, ?)
               ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at""",
            (owner, now),
        )
        self._conn.execute("DELETE FROM replicas WHERE seen_at <= ?", (now - 10 * ttl,))
        (alive,) = self._conn.execute(
            "SELECT count(*) FROM replicas WHERE seen_at > ?", (now - ttl,)
        ).fetchone()
        return int(alive)


class SharedReadsSql:
    _conn: sqlite3.Connection

    def news_of(self, receivers: list[str], now: float) -> list[News]:
        sql = """SELECT route, receiver, subject, news, expires_at, event_id FROM news
                 WHERE receiver IN ({ids}) AND expires_at > ?"""
        return [News(*row) for row in rows_for(self._conn, sql, receivers, now)]

    def groups_of(self, receivers: list[str]) -> list[GroupState]:
        sql = """SELECT key, route, receiver, labels, order_key, firing, last_sent FROM groups
                 WHERE receiver IN ({ids})"""
        return [
            GroupState(key, route, receiver, orjson.loads(labels), order, orjson.loads(ids), at)
            for key, route, receiver, labels, order, ids, at in rows_for(self._conn, sql, receivers)
        ]

    def recent_sends(self, receiver: str, since: float) -> list[float]:
        rows = self._conn.execute(
            "SELECT at FROM send_log WHERE receiver = ? AND at > ? ORDER BY at",
            (receiver, since),
        ).fetchall()
        return [float(at) for (at,) in rows]

    def paused_until(self, receiver: str) -> float:
        row = self._conn.execute(
            "SELECT until FROM pauses WHERE receiver = ?", (receiver,)
        ).fetchone()
        return float(row[0]) if row else 0.0

    def active_sources(self, since: float) -> list[tuple[str, str, dict[str, str]]]:
        rows = self._conn.execute(
            "SELECT key, event_id, labels FROM activity WHERE heard_at > ? ORDER BY heard_at",
            (since,),
        ).fetchall()
        return [(key, event_id, orjson.loads(labels)) for key, event_id, labels in rows]

    def last_heard(self, fingerprints: list[str]) -> dict[str, float]:
        sql = """SELECT fingerprint, max(received_at) FROM events
                 WHERE fingerprint IN ({ids}) GROUP BY fingerprint"""
        return {fp: float(at) for fp, at in rows_for(self._conn, sql, fingerprints)}
