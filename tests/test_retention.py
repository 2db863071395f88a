"""Retention: a long stream under a compressed clock keeps the database bounded, and
nothing still owed a delivery (or needed by a failure streak) is pruned."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from app.bus.plan import Plan
from app.bus.target import Target
from app.events import Event
from app.ingest import ingest
from app.retention import prune_forever, prune_once
from app.store import DeliveryRecord, ReadTx, Retention, Store, WriteTx
from providers.sample import run_event
from service import AUTH, serve
from stores import Backend, count

DAY = 86400.0
POLICY = Retention(events=7 * DAY, deliveries=7 * DAY, dedup_keys=3 * DAY, pipeline_runs=30 * DAY)


class Clock:
    """Simulated wall time, advanced by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def pipeline_event(clock: Clock, run: int, status: str, branch: str = "main") -> Event:
    event = run_event(run, status, branch)
    event.received_at = datetime.fromtimestamp(clock.now, UTC)
    return event


def routed(event: Event, history: ReadTx) -> Plan:
    return Plan({"routes": ["0"], "receivers": ["sink"]}, [Target(route="0", receiver="sink")])


def delivery(clock: Clock, event: Event, state: str) -> DeliveryRecord:
    return DeliveryRecord(
        id=f"d-{event.id}",
        receiver="sink",
        channel_type="webhook",
        route="0",
        group_key=event.id,
        event_ids=[event.id],
        state=state,
        created_at=clock.now,
    )


async def hour_of_traffic(store: Store, clock: Clock, run: int) -> Event:
    """One pipeline run per hour: stored, routed, delivered (a redelivery key kept)."""
    status = "failure" if run % 3 == 0 else "success"
    event = pipeline_event(clock, run, status, branch=f"b{run % 40}")
    await ingest(store, [event], f"gitlab:uuid-{run}", routed)
    sent = delivery(clock, event, "sent")
    await store.write(lambda tx: tx.insert_delivery(sent, [(event.id, "0", "sink")]))
    return event


TABLES = (
    "events",
    "deliveries",
    "seen_deliveries",
    "pipeline_runs",
    "dispatches",
    "pipelines",
    "delivery_events",
)


async def test_a_long_stream_stays_bounded(backend: Backend) -> None:
    """Ninety simulated days of traffic pruned daily plateau in rows and in database size."""
    clock = Clock()
    store = backend.store(clock=clock)
    await store.start()
    sizes, rows = [], []
    try:
        run = 0
        for _day in range(90):
            for _hour in range(24):
                run += 1
                await hour_of_traffic(store, clock, run)
                clock.now += 3600
            await prune_once(store, POLICY, clock.now)
            sizes.append(backend.size())
            rows.append({table: count(backend, table) for table in TABLES})
    finally:
        await store.close()
    # Steady state: about a week of events and deliveries, three days of keys.
    assert rows[-1]["events"] <= 8 * 24
    assert rows[-1]["deliveries"] <= 8 * 24
    assert rows[-1]["seen_deliveries"] <= 4 * 24
    assert rows[-1]["dispatches"] == 0
    # 40 branches, each with runs from the last 30 days (or up to its latest success).
    assert rows[-1]["pipeline_runs"] <= 31 * 24
    assert rows[-1]["pipelines"] <= 40
    assert rows[-1]["delivery_events"] <= rows[-1]["deliveries"]
    for table, left in rows[-1].items():
        assert left <= max(r[table] for r in rows[30:60]), (table, rows[-1])
    assert max(sizes[45:]) <= max(sizes[:45]) * 1.1, sizes


async def test_events_still_owed_a_delivery_are_kept(backend: Backend) -> None:
    """Old events with an open dispatch, an open delivery or a dead one survive pruning."""
    clock = Clock()
    store = backend.store(clock=clock)
    await store.start()
    try:
        waiting, failing, dead, done = (pipeline_event(clock, i, "failure") for i in range(4))
        for event in (waiting, failing, dead, done):
            await ingest(store, [event], None, routed)

        def deliver(tx: WriteTx) -> None:
            for event, state in ((failing, "failed"), (dead, "dead"), (done, "sent")):
                tx.insert_delivery(delivery(clock, event, state), [(event.id, "0", "sink")])

        await store.write(deliver)
        clock.now += 30 * DAY
        removed = await prune_once(store, POLICY, clock.now)
        left = await store.read(
            lambda tx: tx.events_by_ids([e.id for e in (waiting, failing, dead, done)])
        )
    finally:
        await store.close()
    assert {e.id for e in left} == {waiting.id, failing.id}
    assert removed["deliveries"] == 2  # the sent one and the dead one, past their week
    assert removed["events"] == 2


async def test_failure_streak_survives_pruning(backend: Backend) -> None:
    """A pipeline failing for longer than the runs' retention still counts its whole streak."""
    clock = Clock()
    store = backend.store(clock=clock)
    await store.start()
    try:
        await ingest(store, [pipeline_event(clock, 1, "success")], None, routed)
        for run in range(2, 42):
            clock.now += DAY
            await ingest(store, [pipeline_event(clock, run, "failure")], None, routed)
            await prune_once(store, POLICY, clock.now)
        last = pipeline_event(clock, 42, "failure")
        await ingest(store, [last], None, routed)
    finally:
        await store.close()
    assert last.labels["failure_streak"] == "41"
    assert last.labels["transition"] == "still_failing"


def test_the_service_prunes_in_the_background(tmp_path: Path, backend: Backend) -> None:
    """With short retention the running service removes delivered events by itself."""
    with serve(
        tmp_path,
        retain_events=0.5,
        retain_deliveries=0.5,
        prune_interval=0.2,
        **backend.settings(),
    ) as client:
        doc = {
            "version": "4",
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "Old"}, "fingerprint": "f1"}],
        }
        posted = client.post("/hooks/alertmanager", json=doc, headers=AUTH["alertmanager"])
        assert posted.status_code == 202, posted.text
        deadline = time.monotonic() + 10
        while client.get("/api/events").json()["events"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/api/events").json()["events"] == []
        metrics = client.get("/metrics").text
    assert 'signalbox_pruned_rows_total{table="events"}' in metrics


async def test_pruning_keeps_running_after_a_failure(backend: Backend) -> None:
    """A failed pruning round (store not writable) is retried at the next interval."""
    clock = Clock()
    store = backend.store(clock=clock)
    pruner = asyncio.create_task(prune_forever(store, POLICY, 0.05, clock))
    try:
        await asyncio.sleep(0.2)  # rounds fail: the store is not started
        assert not pruner.done()
        await store.start()
        old = pipeline_event(clock, 1, "success")
        await ingest(store, [old], None, lambda e, tx: Plan({}, []))
        clock.now += 30 * DAY
        for _ in range(100):
            if not await store.read(lambda tx: tx.count_events()):
                break
            await asyncio.sleep(0.05)
        assert await store.read(lambda tx: tx.count_events()) == 0
    finally:
        pruner.cancel()
        await store.close()
