"""/readyz and webhooks tell the truth about the store, and answer within a bound, when the
disk is full or the writers stall: the real service over HTTP, on each real store."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.store import Store, StoreUnavailable, WriteTx
from app.store.postgres import PostgresStore
from app.store.queries import SqliteWriteTx
from service import AUTH, alert, alertmanager_body, serve_app, wait_until
from stores import Backend

BUSY_TIMEOUT = 0.5


def store_of(app: FastAPI) -> Store:
    store: Store = app.state.ctx.store
    return store


def write_from_another_loop(store: Store, fn: Callable[[WriteTx], Any]) -> Any:
    """Run a write job from the test's thread (the server's loop is busy serving)."""
    return asyncio.run(store.write(fn))


def post_alert(client: httpx.Client, name: str) -> httpx.Response:
    body = alertmanager_body(alert(name))
    return client.post("/hooks/alertmanager", json=body, headers=AUTH["alertmanager"], timeout=5)


def stored_alerts(client: httpx.Client) -> set[str]:
    events = client.get("/api/events", params={"limit": 1000}).json()["events"]
    return {e["labels"]["pipeline"] for e in events}


@contextlib.contextmanager
def stalled_writers(store: Store) -> Iterator[None]:
    """Every writer thread blocked inside a write job, as on a hung disk or database, until
    the block ends."""
    release = threading.Event()
    threads = []
    # A blocked writer takes no more jobs: the next hang goes to a writer still free.
    for _ in range(store.writers if isinstance(store, PostgresStore) else 1):
        started = threading.Event()

        def hang(tx: WriteTx, started: threading.Event = started) -> None:
            started.set()
            release.wait(30)

        def run(hang: Callable[[WriteTx], None] = hang) -> None:
            with contextlib.suppress(StoreUnavailable):  # its own caller gives up too
                write_from_another_loop(store, hang)

        threads.append(threading.Thread(target=run, daemon=True))
        threads[-1].start()
        assert started.wait(5)
    try:
        yield
    finally:
        release.set()
        for thread in threads:
            thread.join(5)


@pytest.fixture
def served(tmp_path: Path, backend: Backend) -> Iterator[tuple[httpx.Client, FastAPI]]:
    with serve_app(tmp_path, db_busy_timeout=BUSY_TIMEOUT, **backend.settings()) as running:
        yield running


def test_readyz_and_webhooks_answer_when_the_writer_stalls(
    served: tuple[httpx.Client, FastAPI],
) -> None:
    """With the writers hung, a webhook gets 503 and /readyz says not ready, both after the
    busy timeout instead of never; the abandoned write is not committed once they recover."""
    client, app = served
    store = store_of(app)
    with stalled_writers(store):
        refused = post_alert(client, "WhileStalled")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "store unavailable"
        ready = client.get("/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"]["store_writable"] is False
    wait_until(lambda: client.get("/readyz").status_code == 200)
    assert post_alert(client, "AfterStall").status_code == 202
    assert stored_alerts(client) == {"AfterStall"}


def limit_pages(tx: WriteTx, pages: int | None = None) -> None:
    """Cap the writer's database at its current size (or at `pages`): SQLite then answers
    "database or disk is full" to any write that needs a new page, as a full disk does."""
    assert isinstance(tx, SqliteWriteTx)
    conn = tx._conn
    if pages is None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def test_readyz_says_not_writable_when_the_disk_is_full(tmp_path: Path) -> None:
    """Once a full disk makes webhooks 503, /readyz says store_writable false (a real write,
    not an empty transaction); when space comes back both recover (SQLite's page limit
    stands in for the full disk)."""
    with serve_app(tmp_path, db_busy_timeout=BUSY_TIMEOUT) as (client, app):
        store = store_of(app)
        assert client.get("/readyz").status_code == 200
        write_from_another_loop(store, limit_pages)
        answers = []
        for n in range(500):
            answers.append(post_alert(client, f"Fill{n}").status_code)
            if answers[-1] != 202:
                break
        assert answers[-1] == 503, answers
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json() == {
            "ready": False,
            "checks": {"store_writable": False, "config_loaded": True},
        }
        write_from_another_loop(store, lambda tx: limit_pages(tx, 1_000_000_000))
        assert client.get("/readyz").status_code == 200
        assert post_alert(client, "AfterFull").status_code == 202


async def test_a_write_not_started_when_its_caller_gives_up_is_never_run(
    backend: Backend,
) -> None:
    """Queued behind hung writes, a job whose caller timed out is dropped, not run later."""
    store = backend.store(busy_timeout=BUSY_TIMEOUT)
    await store.start()
    ran: list[str] = []
    try:
        with stalled_writers(store), pytest.raises(StoreUnavailable, match=r"within 0\.5s"):
            await store.write(lambda tx: ran.append("late"))
        await store.write(lambda tx: ran.append("after"))
    finally:
        await store.close()
    assert ran == ["after"]
