"""The SQL of the on-call loop (app/store/oncall.py), portable: SQLite runs it as it is,
PostgreSQL through the `?`-taking connection of postgres_shared.py.

An escalation step is fired by one UPDATE … WHERE state = 'pending', and stopped by
another: whichever commits first wins, on one database or across replicas (PostgreSQL
re-checks the condition on the row once the other transaction has ended).
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

import orjson

from app.store.oncall import SILENCE_STATES, Ack, Silence, SilenceState, Step, Told
from app.store.sqlite_util import rows_for

_SILENCE = "id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at"
_ACK = "id, subject, incarnation, event_id, by_whom, comment, at, ended_at, ended_by"
_STEP = (
    "id, subject, incarnation, route, step, receiver, event_id, after_s, due_at, state,"
    " note, done_at, closed"
)
# Silences by state at a time (the parameters: now, once or twice).
_SILENCE_STATES: dict[SilenceState, tuple[str, int, str]] = {
    "active": ("starts_at <= ? AND ends_at > ?", 2, "ends_at"),
    "pending": ("starts_at > ? AND ends_at > ?", 2, "starts_at"),
    "expired": ("ends_at <= ?", 1, "ends_at DESC"),
}


def _silence(row: tuple[Any, ...]) -> Silence:
    sid, matchers, starts, ends, by, comment, created, updated = row
    return Silence(sid, orjson.loads(matchers), starts, ends, by, comment, created, updated)


def _ack(row: tuple[Any, ...]) -> Ack:
    return Ack(*row)


def _step(row: tuple[Any, ...]) -> Step:
    # `closed` is an INTEGER on SQLite.
    return replace(Step(*row), closed=bool(row[-1]))


class OncallReadsSql:
    _conn: sqlite3.Connection

    def oncall_version(self) -> str:
        row = self._conn.execute("SELECT nonce, version FROM oncall_state WHERE id = 1").fetchone()
        return f"{row[0]}:{row[1]}"

    def live_silences(self, now: float) -> list[Silence]:
        rows = self._conn.execute(
            f"SELECT {_SILENCE} FROM silences WHERE ends_at > ? ORDER BY ends_at",  # noqa: S608
            (now,),
        ).fetchall()
        return [_silence(r) for r in rows]

    def list_silences(self, *, state: SilenceState | None, now: float, limit: int) -> list[Silence]:
        if state is None:
            live = self.live_silences(now)
            return (live + self.list_silences(state="expired", now=now, limit=limit))[:limit]
        where, uses, order = _SILENCE_STATES[state]
        rows = self._conn.execute(
            f"SELECT {_SILENCE} FROM silences WHERE {where} ORDER BY {order} LIMIT ?",  # noqa: S608
            (*[now] * uses, limit),
        ).fetchall()
        return [_silence(r) for r in rows]

    def get_silence(self, silence_id: str) -> Silence | None:
        row = self._conn.execute(
            f"SELECT {_SILENCE} FROM silences WHERE id = ?",  # noqa: S608
            (silence_id,),
        ).fetchone()
        return _silence(row) if row else None

    def count_silences(self, now: float) -> dict[SilenceState, int]:
        row = self._conn.execute(
            """SELECT
                   sum(CASE WHEN starts_at <= ? AND ends_at > ? THEN 1 ELSE 0 END),
                   sum(CASE WHEN starts_at > ? AND ends_at > ? THEN 1 ELSE 0 END),
                   sum(CASE WHEN ends_at <= ? THEN 1 ELSE 0 END)
               FROM silences""",
            (now,) * 5,
        ).fetchone()
        return {state: int(n or 0) for state, n in zip(SILENCE_STATES, row, strict=True)}

    def active_acks(self) -> list[Ack]:
        rows = self._conn.execute(
            f"SELECT {_ACK} FROM acks WHERE ended_at IS NULL ORDER BY at"  # noqa: S608
        ).fetchall()
        return [_ack(r) for r in rows]

    def acks_of(self, subjects: list[str]) -> list[Ack]:
        sql = f"SELECT {_ACK} FROM acks WHERE subject IN ({{ids}})"  # noqa: S608
        acks = [_ack(r) for r in rows_for(self._conn, sql, subjects)]
        return sorted(acks, key=lambda a: a.at, reverse=True)

    def steps_for(self, event_ids: list[str], subjects: list[str]) -> list[Step]:
        opened = f"SELECT {_STEP} FROM escalations WHERE event_id IN ({{ids}})"  # noqa: S608
        open_now = f"SELECT {_STEP} FROM escalations WHERE subject IN ({{ids}}) AND closed = 0"  # noqa: S608
        found = {
            s.id: s
            for s in map(
                _step,
                rows_for(self._conn, opened, event_ids) + rows_for(self._conn, open_now, subjects),
            )
        }
        return sorted(found.values(), key=lambda s: (s.due_at, s.step, s.receiver))

    def pending_steps(self, receivers: list[str]) -> list[Step]:
        sql = (
            f"SELECT {_STEP} FROM escalations"  # noqa: S608
            " WHERE state = 'pending' AND receiver IN ({ids})"
        )
        return sorted(map(_step, rows_for(self._conn, sql, receivers)), key=lambda s: s.due_at)

    def trouble_ended(self, subject: str) -> tuple[float, str] | None:
        row = self._conn.execute(
            "SELECT ended_at, why FROM trouble_ends WHERE subject = ?", (subject,)
        ).fetchone()
        return (float(row[0]), str(row[1])) if row else None

    def told(self, event_ids: list[str]) -> list[Told]:
        sql = """SELECT d.record FROM delivery_events de
                 JOIN deliveries d ON d.id = de.delivery_id
                 WHERE de.event_id IN ({ids}) AND d.state = 'sent'"""
        found: dict[str, Told] = {}
        for (record,) in rows_for(self._conn, sql, event_ids):
            delivery = orjson.loads(record)
            receiver = delivery["receiver"]
            found.setdefault(receiver, Told(receiver, delivery["channel_type"], delivery["route"]))
        return list(found.values())

    def events_of_fingerprint(self, fingerprint: str, since: float) -> list[str]:
        rows = self._conn.execute(
            "SELECT id FROM events WHERE fingerprint = ? AND received_at >= ? ORDER BY id",
            (fingerprint, since),
        ).fetchall()
        return [i for (i,) in rows]


class OncallWritesSql(OncallReadsSql):
    def _bump(self) -> None:
        self._conn.execute("UPDATE oncall_state SET version = version + 1 WHERE id = 1")

    def save_silence(self, silence: Silence) -> None:
        self._conn.execute(
            f"""INSERT INTO silences ({_SILENCE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers,
                    starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                    created_by = excluded.created_by, comment = excluded.comment,
                    updated_at = excluded.updated_at""",  # noqa: S608
            (
                silence.id,
                orjson.dumps(silence.matchers).decode(),
                silence.starts_at,
                silence.ends_at,
                silence.created_by,
                silence.comment,
                silence.created_at,
                silence.updated_at,
            ),
        )
        self._bump()

    def add_ack(self, ack: Ack) -> None:
        self._conn.execute(
            f"INSERT INTO acks ({_ACK}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                ack.id,
                ack.subject,
                ack.incarnation,
                ack.event_id,
                ack.by,
                ack.comment,
                ack.at,
                ack.ended_at,
                ack.ended_by,
            ),
        )
        self._bump()

    def end_trouble(self, subject: str, at: float, why: str) -> None:
        self._conn.execute(
            """INSERT INTO trouble_ends (subject, ended_at, why) VALUES (?, ?, ?)
               ON CONFLICT (subject) DO UPDATE SET ended_at = excluded.ended_at, why = excluded.why
               WHERE trouble_ends.ended_at < excluded.ended_at""",
            (subject, at, why),
        )

    def end_acks(self, subject: str, now: float, why: str) -> int:
        ended = int(
            self._conn.execute(
                """UPDATE acks SET ended_at = ?, ended_by = ?
                   WHERE subject = ? AND ended_at IS NULL""",
                (now, why, subject),
            ).rowcount
        )
        if ended:
            self._bump()
        return ended

    def open_steps(self, steps: list[Step]) -> list[Step]:
        stored = []
        for s in steps:
            inserted = self._conn.execute(
                f"""INSERT INTO escalations ({_STEP})
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
                    ON CONFLICT (subject, incarnation, route, step, receiver)
                    WHERE closed = 0 DO NOTHING""",  # noqa: S608
                (
                    s.id,
                    s.subject,
                    s.incarnation,
                    s.route,
                    s.step,
                    s.receiver,
                    s.event_id,
                    s.after,
                    s.due_at,
                    s.state,
                    s.note,
                    s.done_at,
                ),
            ).rowcount
            if inserted:
                stored.append(s)
        return stored

    def stop_steps(self, subject: str, now: float, why: str, close: bool) -> list[str]:
        rows = self._conn.execute(
            "SELECT id FROM escalations WHERE subject = ? AND state = 'pending' AND closed = 0",
            (subject,),
        ).fetchall()
        stopped = [i for (i,) in rows]
        self._conn.execute(
            """UPDATE escalations SET state = 'stopped', note = ?, done_at = ?
               WHERE subject = ? AND state = 'pending' AND closed = 0""",
            (why, now, subject),
        )
        if close:
            self._conn.execute(
                "UPDATE escalations SET closed = 1 WHERE subject = ? AND closed = 0", (subject,)
            )
        return stopped

    def fire_step(self, step_id: str, now: float, note: str) -> bool:
        return self._finish_step(step_id, "fired", now, note)

    def drop_step(self, step_id: str, now: float, why: str) -> bool:
        return self._finish_step(step_id, "stopped", now, why)

    def _finish_step(self, step_id: str, state: str, now: float, note: str) -> bool:
        changed = self._conn.execute(
            """UPDATE escalations SET state = ?, note = ?, done_at = ?
               WHERE id = ? AND state = 'pending'""",
            (state, note, now, step_id),
        ).rowcount
        return bool(changed)

    def prune_oncall(
        self, silences_before: float, records_before: float, batch: int
    ) -> dict[str, int]:
        """Delete up to `batch` rows per table: silences expired before `silences_before`,
        acknowledgements and escalation steps older than `records_before` (an ack still
        open too: it lasts at most that long)."""
        removed = {
            "silences": self._delete(
                "silences",
                "id",
                "SELECT id FROM silences WHERE ends_at < ?",
                silences_before,
                batch,
            ),
            "acks": self._delete(
                "acks", "id", "SELECT id FROM acks WHERE at < ?", records_before, batch
            ),
            "trouble_ends": self._delete(
                "trouble_ends",
                "subject",
                "SELECT subject FROM trouble_ends WHERE ended_at < ?",
                records_before,
                batch,
            ),
            "escalations": self._delete(
                "escalations",
                "id",
                "SELECT id FROM escalations WHERE coalesce(done_at, due_at) < ?",
                records_before,
                batch,
            ),
        }
        if removed["silences"] or removed["acks"]:
            self._bump()
        return removed

    def _delete(self, table: str, key: str, select: str, cutoff: float, batch: int) -> int:
        sql = f"DELETE FROM {table} WHERE {key} IN ({select} LIMIT ?)"  # noqa: S608
        return int(self._conn.execute(sql, (cutoff, batch)).rowcount)

    def signing_key(self, name: str, candidate: str) -> str:
        self._conn.execute(
            "INSERT INTO signing_keys (name, secret) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (name, candidate),
        )
        row = self._conn.execute(
            "SELECT secret FROM signing_keys WHERE name = ?", (name,)
        ).fetchone()
        return str(row[0])
