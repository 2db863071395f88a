"""Both stores: durability before return, group commit isolation, listing; SQLite's WAL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from app.bus.plan import Plan
from app.events import Event, base_labels
from app.ingest import ingest
from app.store import SqliteStore, Store, StoreUnavailable, Suppression, WriteTx
from providers.sample import run_event
from stores import Backend


def alert(name: str, status: str = "firing") -> Event:
    labels = base_labels(
        source="alertmanager",
        kind="alert",
        status=status,  # type: ignore[arg-type]
        project="infra",
        pipeline=name,
    )
    return Event(fingerprint=name, title=f"{name} 告警", labels=labels)


def insert(event: Event) -> Callable[[WriteTx], None]:
    def write(tx: WriteTx) -> None:
        tx.insert_event(event, {"routes": ["0"], "receivers": ["log"]})

    return write


async def test_written_event_is_on_disk_when_write_returns(store: Store, backend: Backend) -> None:
    """After write() returns, another connection to the database sees the row."""
    event = alert("DiskFull")
    await store.write(insert(event))
    assert backend.rows("SELECT id FROM events") == [(event.id,)]


async def test_a_failing_write_does_not_undo_its_batch_neighbours(store: Store) -> None:
    """Concurrent writes commit together, yet one that raises rolls back only itself."""
    good = [alert(f"A{i}") for i in range(50)]

    def broken(tx: WriteTx) -> None:
        tx.insert_event(alert("Broken"), {})
        raise RuntimeError("bug in a caller")

    results = await asyncio.gather(
        *(store.write(insert(e)) for e in good[:25]),
        store.write(broken),
        *(store.write(insert(e)) for e in good[25:]),
        return_exceptions=True,
    )
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    listed = await store.read(lambda tx: tx.list_events(limit=1000))
    assert {e["id"] for e in listed} == {e.id for e in good}


async def test_list_events_newest_first_with_filters(store: Store) -> None:
    """Listing is newest first and filters by source and status, keeping UTF-8 intact."""
    first, second = alert("One"), alert("Two", "resolved")
    await store.write(insert(first))
    await store.write(insert(second))
    listed = await store.read(lambda tx: tx.list_events(limit=10))
    assert [e["id"] for e in listed] == [second.id, first.id]
    assert listed[0]["title"] == "Two 告警"
    assert listed[0]["routing"] == {"routes": ["0"], "receivers": ["log"]}
    resolved = await store.read(lambda tx: tx.list_events(limit=10, status="resolved"))
    assert [e["id"] for e in resolved] == [second.id]
    none = await store.read(lambda tx: tx.list_events(limit=10, source="github"))
    assert none == []


async def test_delivery_keys_are_remembered(store: Store) -> None:
    """A remembered delivery key is seen by later transactions."""

    def remember(tx: WriteTx) -> bool:
        return tx.remember_delivery("github:abc")

    assert await store.write(remember) is True
    assert await store.write(remember) is False


async def test_closed_store_refuses_writes(backend: Backend) -> None:
    """Writing to (or reading from) a store that is not running raises StoreUnavailable."""
    s = backend.store()
    with pytest.raises(StoreUnavailable):
        await s.write(lambda tx: None)
    with pytest.raises(StoreUnavailable):
        await s.read(lambda tx: tx.count_events())


async def test_commit_failure_is_store_unavailable(tmp_path: Path) -> None:
    """When SQLite cannot commit (locked by another writer), callers get StoreUnavailable."""
    store = SqliteStore(tmp_path / "events.db", busy_timeout=0.2)
    await store.start()
    blocker = sqlite3.connect(tmp_path / "events.db", timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            await store.write(insert(alert("Locked")))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await store.writable()
    await store.close()


async def test_wal_stays_bounded_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes that never pause do not grow the WAL without end: the checkpointer restarts it."""
    from app.store import sqlite as module

    monkeypatch.setattr(module, "CHECKPOINT_EVERY", 0.05)
    monkeypatch.setattr(module, "WAL_RESTART_BYTES", 256 * 1024)
    store = SqliteStore(tmp_path / "steady.db")
    await store.start()
    wal = tmp_path / "steady.db-wal"
    largest = 0
    try:
        loop = asyncio.get_running_loop()
        until = loop.time() + 3.0
        n = 0
        while loop.time() < until:
            n += 1
            key = f"steady:{n}:" + "x" * 200

            def remember(tx: WriteTx, key: str = key) -> bool:
                return tx.remember_delivery(key)

            assert await store.write(remember)
            if n % 50 == 0 and wal.exists():
                largest = max(largest, wal.stat().st_size)
    finally:
        await store.close()
    assert n > 200, "writes kept coming (a loaded machine fsyncs slowly)"
    # Without the restart the WAL keeps every commit's frames: over 4 kB per commit
    # (40 MB for 7,441 commits here). With it, it stays near the threshold whatever n is.
    assert largest < min(n * 4096 / 3, 16 * 1024 * 1024), (largest, n)


async def test_wal_restart_does_not_wait_long_for_an_open_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A read left open postpones the WAL restart (said in the log) instead of stalling writes."""
    from app.store import sqlite as module

    monkeypatch.setattr(module, "CHECKPOINT_EVERY", 0.05)
    monkeypatch.setattr(module, "WAL_RESTART_BYTES", 64 * 1024)
    monkeypatch.setattr(module, "WAL_RESTART_WAIT_MS", 20)
    caplog.set_level(logging.WARNING, logger="signalbox")
    store = SqliteStore(tmp_path / "held.db")
    await store.start()
    reader = sqlite3.connect(tmp_path / "held.db")
    loop = asyncio.get_running_loop()
    slowest = 0.0
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM seen_deliveries").fetchone()  # holds a snapshot
        for n in range(60):  # a frame or more each: the WAL passes 64 kB after ~16
            key = f"held:{n}:" + "x" * 200

            def remember(tx: WriteTx, key: str = key) -> bool:
                return tx.remember_delivery(key)

            started = loop.time()
            assert await store.write(remember)
            slowest = max(slowest, loop.time() - started)
            await asyncio.sleep(0.01)  # let the writer's once-a-look come round
    finally:
        reader.close()
        await store.close()
    assert "WAL restart postponed: a read was still open" in caplog.messages
    # Waiting out the busy timeout (30 s) for the reader would stall a write that long.
    assert slowest < 2.0, slowest


async def test_nul_characters_from_a_payload_are_stored(store: Store) -> None:
    """A payload's "\\u0000" in a run id, branch or fingerprint (PostgreSQL text cannot hold
    NUL) is stored, not a failed write; the event's own JSON keeps it exactly, and
    lookups with NUL answer nothing rather than an error."""
    event = run_event(1, branch="ma\x00in")
    event.fingerprint = "fp\x00"
    event.run_id = "run\x00"
    await ingest(store, [event], None, lambda e, tx: Plan({}, []))
    await store.write(
        lambda tx: tx.suppress([Suppression(event.id, "0", "log", "old_news", "run\x00 again")])
    )
    [listed] = await store.read(lambda tx: tx.list_events(limit=10))
    assert listed["labels"]["branch"] == "ma\x00in"
    assert listed["fingerprint"] == "fp\x00"
    assert [o["stage"] for o in listed["outcomes"]] == ["old_news"]
    assert await store.read(lambda tx: tx.list_events(limit=10, source="git\x00lab")) == []
    assert await store.read(lambda tx: tx.get_delivery("d\x00")) is None
    again = run_event(1, branch="ma\x00in")
    again.run_id = "run\x00"
    await ingest(store, [again], None, lambda e, tx: Plan({}, []))
    assert again.old_news == "run run\x00 had already reported failure"
