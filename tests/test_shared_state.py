"""The bus's state outlives its process and is shared by replicas, on each real store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from app.bus.ownership import Ownership
from app.bus.retry import RetryPolicy
from app.bus.target import Target
from app.bus.worker import Bus
from app.store import Store
from busharness import (
    accept,
    alerts,
    channel_configs,
    default_target,
    max_in_any_window,
    running_bus,
    wait_for,
)
from providers.webhook import FakeReceiver
from service import alert, alertmanager_body, serve, wait_until
from stores import Backend


def hook(receiver: FakeReceiver, path: str = "in", **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": f"{receiver.base_url}/{path}", **extra}


def told(receiver: FakeReceiver, label: str, path: str | None) -> list[str]:
    return [
        e["labels"][label]
        for r in receiver.requests
        if path is None or r.path == f"/{path}"
        for e in r.json()["events"]
    ]


def instances(receiver: FakeReceiver, path: str | None = None) -> list[str]:
    return told(receiver, "instance", path)


def teams(receiver: FakeReceiver, path: str | None = None) -> list[str]:
    return told(receiver, "team", path)


async def test_dedup_memory_survives_a_restart(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """The same news after a restart is still a duplicate within dedup_window."""
    target = Target("0", "hook", dedup_window=300)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1), target)
        await wait_for(lambda: len(fake_receiver.requests) == 1)
        await bus.recorded()
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1), target)
        await asyncio.sleep(0.5)
        await bus.recorded()
        [story, _] = await store.read(lambda tx: tx.list_events(limit=2))
    assert len(fake_receiver.requests) == 1
    assert [o["stage"] for o in story["outcomes"]] == ["dedup"]


async def test_a_groups_repeat_keeps_its_time_across_a_restart(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A firing group restarted between two repeats repeats once repeat_interval has passed
    since its last send: not at once, and not never."""
    target = Target(
        "0",
        "hook",
        group_by=("alertname",),
        group_wait=0.2,
        group_interval=0.2,
        repeat_interval=2.0,
    )
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(2), target)
        await wait_for(lambda: len(fake_receiver.requests) == 1)
        await bus.recorded()
    first = fake_receiver.requests[0].at
    channels = {"hook": hook(fake_receiver)}
    async with running_bus(backend, channels, target_for=lambda *_: target):
        await wait_for(lambda: len(fake_receiver.requests) == 2, within=5)
    repeat = fake_receiver.requests[1]
    assert 1.9 <= repeat.at - first <= 3.5
    assert sorted(instances(fake_receiver)[2:]) == ["host-0", "host-1"]


async def test_the_rate_window_holds_across_a_restart(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Two messages per 3 s: after a restart the next two wait for the window the first
    two opened, as the provider counts them."""
    limited = hook(fake_receiver, rate_limit={"messages": 2, "per": "3s"})
    async with running_bus(backend, {"hook": limited}) as (bus, store):
        for n in range(2):
            await accept(bus, store, alerts(1, team=f"t{n}"), Target("0", "hook"))
        await wait_for(lambda: len(fake_receiver.requests) == 2)
        await bus.recorded()
    async with running_bus(backend, {"hook": limited}) as (bus, store):
        for n in range(2, 4):
            await accept(bus, store, alerts(1, team=f"t{n}"), Target("0", "hook"))
        await wait_for(lambda: len(fake_receiver.requests) == 4, within=8)
    assert max_in_any_window([r.at for r in fake_receiver.requests], 3.0) <= 2


def test_an_inhibiting_alert_is_remembered_across_a_restart(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A ClusterDown that fired before a restart still mutes its cluster's alerts after it."""
    routes = f"""\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  sink: {{ type: webhook, url: "{fake_receiver.base_url}/in" }}
routes:
  - matchers: ['source="alertmanager"']
    to: [sink]
inhibit_rules:
  - source_matchers: ['alertname="ClusterDown"']
    target_matchers: ['alertname!="ClusterDown"']
    equal: [cluster]
"""
    auth = {"authorization": "Bearer am-token"}
    with serve(tmp_path, routes, **backend.settings()) as client:
        down = alertmanager_body(alert("ClusterDown", cluster="c1"))
        assert client.post("/hooks/alertmanager", json=down, headers=auth).status_code == 202
        wait_until(lambda: fake_receiver.requests)
    with serve(tmp_path, routes, **backend.settings()) as client:
        pod = alertmanager_body(alert("PodCrash", cluster="c1"))
        answer = client.post("/hooks/alertmanager", json=pod, headers=auth)
        [event_id] = answer.json()["event_ids"]
        time.sleep(0.5)
        events = client.get("/api/events").json()["events"]
    [story] = [e for e in events if e["id"] == event_id]
    assert story["inhibited_by"].startswith("inhibited by event")
    assert [o["stage"] for o in story["outcomes"]] == ["inhibit"]
    assert len(fake_receiver.requests) == 1


class Replica:
    """A bus with its own lease holder on a shared store: one replica, in-process."""

    def __init__(self, store: Store, name: str, channels: dict[str, Any]) -> None:
        self.bus = Bus(store, RetryPolicy(max_age=30.0, base=0.05, max_interval=0.2))
        self.bus.configure(channel_configs(channels), {}, default_target)
        self.ownership = Ownership(
            store, self.bus, self.bus.receivers, ttl=1.5, renew_every=0.25, owner=name
        )
        store.on_wake(self.bus.woken)
        self.renewals: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ownership.round()
        self.renewals = asyncio.create_task(self.ownership.run())

    async def crash(self) -> None:
        """Stop as a killed process would: no renewal, no handover, nothing drained."""
        assert self.renewals is not None
        self.renewals.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.renewals
        await self.bus.let_go(self.bus.owned())


@contextlib.asynccontextmanager
async def two_replicas(
    backend: Backend, channels: dict[str, Any]
) -> AsyncIterator[tuple[Store, Replica, Replica]]:
    """On SQLite two replicas in one process share its store (one file, one machine); on
    PostgreSQL each has a store of its own, as separate processes do, and they wake each
    other through the database."""
    store = backend.store()
    await store.start()
    other = store
    if backend.name == "postgres":
        other = backend.store()
        await other.start()
    first, second = Replica(store, "r1", channels), Replica(other, "r2", channels)
    try:
        await first.start()
        await second.start()
        await wait_for(lambda: first.bus.owned() and second.bus.owned(), within=5)
        yield store, first, second
    finally:
        for replica in (first, second):
            if replica.renewals is not None:
                replica.renewals.cancel()
            await replica.bus.close(grace=0.5)
        await store.close()
        if other is not store:
            await other.close()


async def test_two_replicas_share_the_receivers_and_deliver_what_the_other_accepted(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Each replica owns one of two receivers; events accepted by one replica for both
    receivers are delivered once each, every receiver's by its owner."""
    channels = {"a": hook(fake_receiver, "a"), "b": hook(fake_receiver, "b")}
    async with two_replicas(backend, channels) as (store, first, second):
        assert first.bus.owned() | second.bus.owned() == {"a", "b"}
        assert not first.bus.owned() & second.bus.owned()
        for n in range(5):
            await accept(
                first.bus, store, alerts(1, team=f"t{n}"), Target("0", "a"), Target("0", "b")
            )
        await wait_for(lambda: len(fake_receiver.requests) == 10)
        await asyncio.sleep(0.5)
    assert len(fake_receiver.requests) == 10
    assert (
        sorted(teams(fake_receiver, "a"))
        == sorted(teams(fake_receiver, "b"))
        == [f"t{n}" for n in range(5)]
    )


async def test_a_crashed_replicas_receivers_are_taken_over_without_losses_or_repeats(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """When a replica stops renewing, the other takes its receiver over after the lease
    lapses and delivers what was left and what comes next, once each, within its rate."""
    limited = {"rate_limit": {"messages": 3, "per": "2s"}}
    channels = {"a": hook(fake_receiver, "a", **limited), "b": hook(fake_receiver, "b", **limited)}
    async with two_replicas(backend, channels) as (store, first, second):
        dying, surviving = (first, second) if "a" in first.bus.owned() else (second, first)
        for n in range(3):
            await accept(surviving.bus, store, alerts(1, team=f"t{n}"), Target("0", "a"))
        await wait_for(lambda: len(teams(fake_receiver, "a")) == 3)
        await dying.crash()
        for n in range(3, 6):
            await accept(surviving.bus, store, alerts(1, team=f"t{n}"), Target("0", "a"))
        await wait_for(lambda: "a" in surviving.bus.owned(), within=5)
        await wait_for(lambda: len(teams(fake_receiver, "a")) == 6, within=10)
        await asyncio.sleep(0.5)
    assert sorted(teams(fake_receiver, "a")) == [f"t{n}" for n in range(6)]
    times = [r.at for r in fake_receiver.requests if r.path == "/a"]
    assert max_in_any_window(times, 2.0) <= 3, "the window held across the takeover"


async def test_a_replica_takes_back_its_own_leases_that_lapsed_while_the_store_was_down(
    backend: Backend,
) -> None:
    """Leases that lapsed while a replica could not renew them (the database was down) and
    that nobody took are taken back at its next renewal, first among what it may take:
    a full share of stale rows of its own must not leave receivers with no owner."""
    store = backend.store()
    await store.start()
    try:
        receivers = ["a", "b", "c", "d"]

        def hold(owner: str, now: float) -> Any:
            return store.write(lambda tx: tx.hold_leases(owner, receivers, 2, now, 3.0))

        assert sorted(await hold("one", 1000.0)) == ["a", "b"]
        assert sorted(await hold("two", 1000.0)) == ["c", "d"]
        # Both were cut off for 10 s; "two" renews first and may take any two lapsed ones.
        assert sorted(await hold("two", 1010.0)) == ["c", "d"]
        assert sorted(await hold("one", 1010.5)) == ["a", "b"]
    finally:
        await store.close()
