"""Connections to PostgreSQL for the store's threads: opened when needed, again after a loss.

A lost connection (the server restarted, a failover, the network) is dropped, and the next
job reconnects; until a reconnect succeeds, jobs fail at once with StoreUnavailable rather
than each waiting out a connect timeout. Sockets are given TCP keepalives and a user
timeout, so a server gone silent (no reset, as behind a dead network path) breaks the
connection within about the write timeout instead of TCP's quarter of an hour.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.string import StrDumperUnknown

from app.logs import log
from app.store.base import StoreUnavailable

Conn = psycopg.Connection[tuple[Any, ...]]

# While the database is unreachable a thread tries to connect at most this often; jobs
# that come meanwhile fail at once.
RECONNECT_EVERY = 0.5


class NulSafeStr(StrDumperUnknown):
    """PostgreSQL text cannot hold NUL, which a payload's JSON may carry ("\\u0000"): kept
    as U+FFFD, as an undecodable byte would be. JSON columns keep it escaped, intact."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", "\ufffd"))


def describe(url: str) -> str:
    """The database as logs and errors may name it: never with its password."""
    params = conninfo_to_dict(url)
    user = f"{params['user']}@" if "user" in params else ""
    port = f":{params['port']}" if "port" in params else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


class Health:
    """Whether the database was reachable at the last try, shared by a store's threads, so
    that an outage is logged once when it starts and once when it ends."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self.last_error = ""
        # Outages seen so far: a connection opened before the latest one is suspect.
        self.outages = 0

    def down(self, exc: BaseException) -> None:
        with self._lock:
            self.last_error = str(exc).strip()
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
            self.outages += 1
        log(logging.ERROR, "database unreachable", db=self.where, error=self.last_error)

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def up(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log(
                logging.WARNING,
                "database reachable again",
                db=self.where,
                down_for=round(time.monotonic() - since, 1),
            )


class Link:
    """One store thread's connection, in autocommit mode (the thread says BEGIN itself)."""

    def __init__(self, url: str, busy_timeout: float, health: Health) -> None:
        self._params = _params(url, busy_timeout)
        self._settings = (
            # A 2xx promises the event is on the server's disk, whatever the server's,
            # database's or role's default says.
            "SET synchronous_commit = on; "
            # A row another replica keeps locked answers 503 like a stalled disk does.
            f"SET lock_timeout = '{int(busy_timeout * 1000)}ms'"
        )
        self._health = health
        self._conn: Conn | None = None
        self._opened_after = 0  # outages seen before this connection was opened
        self._next_try = 0.0

    def get(self) -> Conn:
        """The open connection, or a new one; StoreUnavailable while none can be had.

        A connection opened before an outage another thread saw is replaced before use:
        it most likely died with the server, and would fail a job that a new one takes.
        """
        if self._conn is not None and self._opened_after != self._health.outages:
            self.close()
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if self._health.is_down and time.monotonic() < self._next_try:
            raise StoreUnavailable(f"{self._health.where} unreachable: {self._health.last_error}")
        try:
            outages = self._health.outages
            self._conn = self._connect()
            self._opened_after = outages
        except psycopg.Error as exc:
            self._next_try = time.monotonic() + RECONNECT_EVERY
            self._health.down(exc)
            raise StoreUnavailable(f"{self._health.where} unreachable: {exc}") from None
        self._health.up()
        return self._conn

    def _connect(self) -> Conn:
        conn = psycopg.connect(**self._params, autocommit=True)
        try:
            conn.adapters.register_dumper(str, NulSafeStr)
            conn.execute(self._settings)
        except BaseException:
            conn.close()
            raise
        return conn

    def lost(self, exc: BaseException) -> None:
        """The connection broke: close it; the next get() reconnects."""
        self.close()
        self._health.down(exc)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _params(url: str, busy_timeout: float) -> dict[str, Any]:
    """The URL's parameters over our defaults: an operator's setting in the URL wins."""
    seconds = max(busy_timeout, 1.0)
    defaults: dict[str, Any] = {
        "application_name": "signalbox",
        # libpq counts whole seconds, and takes less than 2 as 2.
        "connect_timeout": max(2, math.ceil(seconds)),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        # Sent data unacknowledged this long breaks the connection (Linux).
        "tcp_user_timeout": int(max(seconds, 10.0) * 1000),
    }
    return {**defaults, **conninfo_to_dict(url)}
