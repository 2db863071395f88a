"""The PostgreSQL store while its server is down: writes and reads answer StoreUnavailable
within the busy timeout (never a hang), and the store reconnects by itself when the server
is back, having lost nothing it acknowledged. A real server, stopped as a crash stops it."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

import pytest

from app.bus.plan import Plan
from app.events import Event
from app.ingest import ingest
from app.store import ReadTx, StoreUnavailable
from app.store.postgres import PostgresStore
from pgserver import PgServer
from providers.sample import alert_event
from stores import PostgresBackend

BUSY_TIMEOUT = 1.0
RecordProperty = Callable[[str, object], None]


def no_routes(event: Event, history: ReadTx) -> Plan:
    return Plan({}, [])


async def test_a_restarted_database_refuses_writes_then_takes_them_again(
    own_pg_server: PgServer, caplog: pytest.LogCaptureFixture, record_property: RecordProperty
) -> None:
    """Webhook writes go on while the server crashes and restarts: while it is down each
    answers StoreUnavailable in well under the busy timeout and /readyz's probe says not
    writable; after it is back writes succeed again, and every write that succeeded is in
    the database. The outage is logged once as it starts and once as it ends."""
    caplog.set_level(logging.INFO, logger="signalbox")
    backend = PostgresBackend(own_pg_server, own_pg_server.database())
    store = PostgresStore(backend.url, BUSY_TIMEOUT, connect_wait=0)
    await store.start()
    accepted: list[str] = []
    refused = after_restart = 0
    slowest = 0.0
    loop = asyncio.get_running_loop()
    outage: asyncio.Task[None] | None = None
    writable_while_down: bool | None = None
    began = loop.time()
    try:
        for n in range(5000):
            event = alert_event(n)
            started = loop.time()
            try:
                await ingest(store, [event], None, no_routes)
                accepted.append(event.id)
                after_restart += outage is not None and outage.done()
            except StoreUnavailable:
                refused += 1
                if writable_while_down is None:
                    writable_while_down = await store.writable()
            slowest = max(slowest, loop.time() - started)
            if outage is None and len(accepted) >= 20:
                outage = asyncio.create_task(asyncio.to_thread(crash_and_restart, own_pg_server))
            if after_restart >= 20 or loop.time() - began > 30:
                break
            await asyncio.sleep(0.01)
        assert outage is not None
        await outage
    finally:
        await store.close()
    record_property("figures", f"refused={refused} slowest={slowest:.3f}s")
    assert refused > 0, "the outage was seen"
    assert writable_while_down is False
    assert slowest < BUSY_TIMEOUT + 0.5, f"a write waited {slowest:.2f}s"
    assert after_restart >= 20, "writes succeed again without a restart of the store"
    stored = {row[0] for row in backend.rows("SELECT id FROM events")}
    assert set(accepted) <= stored, "nothing acknowledged is lost"
    assert caplog.messages.count("database unreachable") == 1
    assert caplog.messages.count("database reachable again") == 1


async def test_a_database_that_stops_answering_cannot_hang_a_write(
    own_pg_server: PgServer,
) -> None:
    """A server that stops answering without closing its connections (every process of it
    stopped): reads and writes answer StoreUnavailable at the busy timeout instead of
    waiting for it, and go through again once it answers."""
    url = own_pg_server.database()
    store = PostgresStore(url, BUSY_TIMEOUT, connect_wait=0)
    await store.start()
    loop = asyncio.get_running_loop()
    try:
        await ingest(store, [alert_event(1)], None, no_routes)
        own_pg_server.signal_all(signal.SIGSTOP)
        try:
            for n in range(2, 4):
                started = loop.time()
                with pytest.raises(StoreUnavailable, match="within 1s"):
                    await ingest(store, [alert_event(n)], None, no_routes)
                assert loop.time() - started < BUSY_TIMEOUT + 0.5
            assert not await store.writable()
        finally:
            own_pg_server.signal_all(signal.SIGCONT)
        deadline = loop.time() + 10
        while not await store.writable():
            assert loop.time() < deadline, "writes never went through again"
        await ingest(store, [alert_event(4)], None, no_routes)
    finally:
        await store.close()


def crash_and_restart(server: PgServer) -> None:
    server.stop("immediate")  # as a crash or a kill -9 of the server ends it
    time.sleep(1.0)
    server.start()


async def test_a_store_started_before_its_database_waits_for_it(
    own_pg_server: PgServer,
) -> None:
    """Started while the server is still down (as in a compose stack), the store waits for
    it instead of failing, and works once it is up."""
    url = own_pg_server.database()
    own_pg_server.stop()
    store = PostgresStore(url, BUSY_TIMEOUT, connect_wait=20)
    starting = asyncio.create_task(store.start())
    await asyncio.sleep(1.5)
    assert not starting.done()
    await asyncio.to_thread(own_pg_server.start)
    await asyncio.wait_for(starting, 20)
    try:
        assert await store.writable()
    finally:
        await store.close()


async def test_closing_while_the_database_stopped_answering_does_not_hang(
    own_pg_server: PgServer,
) -> None:
    """Shutting down while the writer waits on a silent server takes about the busy
    timeout, not until the server answers."""
    store = PostgresStore(own_pg_server.database(), BUSY_TIMEOUT, connect_wait=0)
    await store.start()
    loop = asyncio.get_running_loop()
    own_pg_server.signal_all(signal.SIGSTOP)
    try:
        with pytest.raises(StoreUnavailable):
            await ingest(store, [alert_event(1)], None, no_routes)
        started = loop.time()
        await store.close()
        assert loop.time() - started < 2 * (BUSY_TIMEOUT + 1.0) + 0.5
    finally:
        own_pg_server.signal_all(signal.SIGCONT)
