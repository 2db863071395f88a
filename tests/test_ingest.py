"""Storing events: routing off the loop and the writer, verdicts re-checked, old news kept quiet."""

from __future__ import annotations

import asyncio
import threading
import time

from app.bus.plan import Plan
from app.bus.target import Target
from app.events import Event
from app.ingest import ingest
from app.pipeline_state import apply_pipeline_state
from app.sources import SOURCE_MODULES
from app.store import ReadTx, Store
from busharness import accept, deliveries, running_bus, wait_for
from fixtures import payload
from providers.sample import run_event
from providers.webhook import FakeReceiver
from stores import Backend


async def test_routing_runs_neither_on_the_loop_nor_in_the_writer(store: Store) -> None:
    """The plan function is called from a worker thread, not the loop's or the writer's."""
    seen: list[str] = []
    loop_thread = threading.current_thread().name

    def plan(event: Event, history: ReadTx) -> Plan:
        seen.append(threading.current_thread().name)
        return Plan({}, [])

    await ingest(store, [run_event(1), run_event(2)], None, plan)
    assert seen and all(name != loop_thread and "write" not in name for name in seen)


async def test_concurrent_runs_of_one_pipeline_are_routed_with_their_final_labels(
    store: Store,
) -> None:
    """Twenty failed runs stored at once get streaks 1..20, and each was routed with them."""
    routed_with: dict[str, str] = {}

    def plan(event: Event, history: ReadTx) -> Plan:
        time.sleep(0.002)  # routing takes a while: the others commit meanwhile
        routed_with[event.id] = event.labels["failure_streak"]
        return Plan({"streak": event.labels["failure_streak"]}, [])

    runs = [run_event(run) for run in range(1, 21)]
    await asyncio.gather(*(ingest(store, [e], None, plan) for e in runs))
    stored = await store.read(lambda tx: tx.list_events(limit=100))
    by_run = {item["run_order"]: item for item in stored}
    assert [by_run[r]["labels"]["failure_streak"] for r in range(1, 21)] == [
        str(r) for r in range(1, 21)
    ]
    for item in stored:
        assert item["routing"]["streak"] == item["labels"]["failure_streak"]
        assert routed_with[item["id"]] == item["labels"]["failure_streak"]


async def test_second_phase_of_a_reported_build_notifies_nobody(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Jenkins' COMPLETED then FINALIZED of one build give one message, with no dedup window."""
    completed = payload("jenkins/notification_plugin.completed.success.json")
    completed["build"]["status"] = "FAILURE"
    finalized = {**completed, "build": {**completed["build"], "phase": "FINALIZED"}}
    target = Target("0", "hook", dedup_window=0.0)
    channels = {"hook": {"type": "webhook", "url": fake_receiver.base_url}}
    async with running_bus(backend, channels) as (bus, store):
        for body in (completed, finalized):
            events = SOURCE_MODULES["jenkins"].parse({}, body)
            await accept(bus, store, events, target)
        await wait_for(lambda: len(fake_receiver.requests) >= 1)
        await asyncio.sleep(0.3)
        await bus.recorded()
        assert len(fake_receiver.requests) == 1
        stored = await store.read(lambda tx: tx.list_events(limit=10))
        assert [e["old_news"] for e in stored] == [
            "run asgard#18 had already reported failure",
            None,
        ]
        assert len(await deliveries(store)) == 1


async def test_a_run_written_by_another_process_meanwhile_is_taken_into_account(
    store: Store, backend: Backend
) -> None:
    """When another store (a replica) records run 1 while run 2 is being routed, run 2 is
    routed again with the streak that counts run 1."""
    other = backend.store()
    await other.start()
    loop = asyncio.get_running_loop()
    streaks: list[str] = []

    def plan(event: Event, history: ReadTx) -> Plan:
        if not streaks:
            earlier = run_event(1)
            write = other.write(lambda tx: apply_pipeline_state(tx, earlier))
            asyncio.run_coroutine_threadsafe(write, loop).result()
        streaks.append(event.labels["failure_streak"])
        return Plan({}, [])

    try:
        accepted = await ingest(store, [run_event(2)], None, plan)
    finally:
        await other.close()
    assert streaks == ["1", "2"]
    assert accepted.events[0].labels["transition"] == "still_failing"


async def test_a_flood_of_one_runs_repeats_is_stored_without_refusals(store: Store) -> None:
    """Thirty senders posting one run's failure ten times each, all at once, are never
    refused as contended: the first copy is news, the rest old news."""

    def plan(event: Event, history: ReadTx) -> Plan:
        time.sleep(0.0005)  # routing takes a while: others commit meanwhile
        return Plan({}, [])

    async def sender() -> list[Event]:
        return [(await ingest(store, [run_event(7)], None, plan)).events[0] for _ in range(10)]

    stored = [e for batch in await asyncio.gather(*(sender() for _ in range(30))) for e in batch]
    assert sum(e.old_news is None for e in stored) == 1
    assert {e.labels["failure_streak"] for e in stored} == {"1"}
