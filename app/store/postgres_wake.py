"""Waking the replicas that own receivers: PostgreSQL's NOTIFY, heard with LISTEN.

A replica that stored work for receivers another replica owns sends their names on a
channel every replica of the database listens to (itself included). A wake-up is a
shortcut, not a promise: one sent while a listener was reconnecting is lost, and the
owner's next lease round (app/bus/ownership.py, every 2 s) picks the work up anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import orjson
import psycopg

from app.store.base import StoreUnavailable, WriteTx
from app.store.postgres_link import RECONNECT_EVERY, Conn, Link

CHANNEL = "signalbox_wake"
# NOTIFY refuses a payload of 8,000 bytes or more: receivers go in several under this.
MAX_PAYLOAD = 4000

Listener = Callable[[set[str]], None]


def payloads(receivers: set[str]) -> list[str]:
    """The receivers as JSON lists, each well under NOTIFY's limit."""
    chunks: list[list[str]] = [[]]
    size = 0
    for receiver in sorted(receivers):
        cost = len(receiver.encode()) * 6 + 4  # worst case of JSON escaping, and ", "
        if chunks[-1] and size + cost > MAX_PAYLOAD:
            chunks.append([])
            size = 0
        chunks[-1].append(receiver)
        size += cost
    return [orjson.dumps(chunk).decode() for chunk in chunks if chunk]


def notifier(receivers: set[str]) -> Callable[[WriteTx], None]:
    """A write job sending the wake-up; PostgreSQL delivers it when the job commits."""
    messages = payloads(receivers)

    def notify(tx: WriteTx) -> None:
        conn: Conn = tx.conn  # type: ignore[attr-defined]
        for message in messages:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, message))

    return notify


class Hearing:
    """A thread of its own LISTENing on a connection of its own, handing each wake-up to
    the listeners on their event loops; it listens again after a lost connection."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._listeners: list[tuple[asyncio.AbstractEventLoop, Listener]] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, listener: Listener) -> None:
        self._listeners.append((asyncio.get_running_loop(), listener))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="postgres-listen", daemon=True)
            self._thread.start()

    async def stop(self, within: float) -> None:
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, within)
            self._thread = None

    def _run(self) -> None:
        listening: Conn | None = None
        try:
            while not self._stopping.is_set():
                try:
                    conn = self._link.get()
                    if conn is not listening:
                        conn.execute(f"LISTEN {CHANNEL}")
                        listening = conn
                    for note in conn.notifies(timeout=0.5):
                        self._hand_over(set(orjson.loads(note.payload)))
                except StoreUnavailable:
                    self._stopping.wait(RECONNECT_EVERY)
                except psycopg.Error as exc:
                    self._link.lost(exc)
                    listening = None
        finally:
            self._link.close()

    def _hand_over(self, receivers: set[str]) -> None:
        for loop, listener in self._listeners:
            with contextlib.suppress(RuntimeError):  # a loop closed since
                loop.call_soon_threadsafe(listener, set(receivers))
