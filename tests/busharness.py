"""A real bus over a real store (SQLite or PostgreSQL), fed with events parsed from the payload
fixtures."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from app.accept import Intake
from app.accept import accept as accept_events
from app.bus.ownership import Ownership
from app.bus.plan import Plan
from app.bus.retry import RetryPolicy
from app.bus.target import Target
from app.bus.worker import Bus, TargetFor
from app.events import Event
from app.sources import SOURCE_MODULES
from app.store import DeliveryRecord, Store
from channels import CHANNEL_TYPES
from fixtures import payload
from stores import Backend

FAST_RETRIES = RetryPolicy(max_attempts=4, max_age=30.0, base=0.02, max_interval=0.1)


def alerts(count: int, status: str = "firing", **labels: str) -> list[Event]:
    """`count` distinct alerts, each a copy of the real firing fixture's first alert."""
    doc = payload("alertmanager/firing.multi.v4_fingerprint.json")
    template = doc["alerts"][0]
    doc["alerts"] = []
    for i in range(count):
        alert = copy.deepcopy(template)
        alert["labels"].update({"instance": f"host-{i}", **labels})
        alert["fingerprint"] = f"{hash((i, tuple(labels.items()))) & 0xFFFFFFFF:08x}"
        alert["status"] = status
        doc["alerts"].append(alert)
    return SOURCE_MODULES["alertmanager"].parse({}, doc)


def channel_configs(configs: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        name: CHANNEL_TYPES[c["type"]].config_model.model_validate(c) for name, c in configs.items()
    }


# The lease holder's name for the bus a test runs (one replica).
REPLICA = "test-replica"


def default_target(event: Event, route: str, receiver: str) -> Target:
    """Targets of work picked up from the store: the route's defaults."""
    return Target(route, receiver)


async def configure(
    bus: Bus,
    store: Store,
    channels: Mapping[str, Any],
    target_for: TargetFor = default_target,
) -> None:
    """Give the bus these channels (configs or plain settings) and, as the service does,
    a lease round so it owns them; `target_for` gives work picked up from the store its
    route's settings."""
    configs = {
        n: c if not isinstance(c, dict) else channel_configs({n: c})[n] for n, c in channels.items()
    }
    bus.configure(configs, {}, target_for)
    await Ownership(store, bus, bus.receivers, owner=REPLICA).round()


@asynccontextmanager
async def running_bus(
    backend: Backend,
    channels: Mapping[str, dict[str, Any]],
    policy: RetryPolicy = FAST_RETRIES,
    target_for: TargetFor = default_target,
) -> AsyncIterator[tuple[Bus, Store]]:
    """A bus over a store on the test's backend (the `backend` fixture: each of them)."""
    store = backend.store()
    await store.start()
    bus = Bus(store, policy)
    await configure(bus, store, channels, target_for)
    try:
        yield bus, store
    finally:
        await bus.close(grace=0.5)
        await store.close()


async def accept(bus: Bus, store: Store, events: list[Event], *targets: Target) -> None:
    """What the hooks endpoint does (the same function), with every event routed to `targets`."""
    plan = Plan({"routes": [t.route for t in targets]}, list(targets))
    await accept_events(Intake(store, bus), events, None, lambda e, tx: plan)


async def deliveries(store: Store, state: str | None = None) -> list[DeliveryRecord]:
    return await store.read(lambda tx: tx.list_deliveries(limit=10_000, state=state))


async def wait_for(condition: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def _holds(condition: Callable[[], Any]) -> bool:
    result = condition()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


def max_in_any_window(times: list[float], window: float) -> int:
    """The most of `times` that fall within any span of `window` seconds."""
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered[i:] if t - start < window) for i, start in enumerate(ordered)),
        default=0,
    )
