"""Turning what a poll saw into events: only what changed, each run status told once.

A sighting is news when its version differs from the one remembered for its run (the
target's `seen` memory, saved with its state). News older than the horizon is recorded,
not told: on a target's first poll the horizon is `look_back` (default 0: the present
state is learnt silently), later it is `catch_up` (after an outage, older changes are
history). What is told is parsed by the CI's webhook source module into the very Event
its webhook gives, skipped when the store already holds that run in that status (the
webhook, another poll or another replica told it), and accepted with its fingerprint as
dedup key, so two pollers racing store it once.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from app.accept import Intake, accept
from app.bus.plan import plan
from app.events import Event
from app.ingest import Duplicate
from app.logs import log
from app.pipeline_state import pipeline_key, tracked
from app.pollers.api import TargetFailed
from app.pollers.base import Seen, Sighting
from app.pollers.spec import PollSpec, Target
from app.routing.config import RoutingConfig
from app.sources import SOURCE_MODULES
from app.sources.base import Ignored, Malformed
from app.store import ReadTx

# Runs remembered per target when the API shows only what changed (GitLab): enough for
# any page of overlap, bounded whatever the history.
SEEN_CAP = 2000


async def report(
    intake: Intake,
    config: RoutingConfig,
    spec: PollSpec,
    target: Target,
    state: dict[str, Any],
    seen: Seen,
    now: float,
) -> int:
    """Tell what is news in `seen`, remember it in `state`; how many events were stored."""
    # No memory of runs: the target's first poll (or first since its API moved).
    first = "seen" not in state
    horizon = now - (spec.look_back if first else spec.catch_up).total_seconds()
    memory: dict[str, str] = state.get("seen", {})
    told = 0
    for sighting in seen.sightings:
        if memory.get(sighting.key) == sighting.version:
            continue
        changed = sighting.changed_at
        if (changed is None and first) or (changed is not None and changed < horizon):
            continue
        told += await _accept_run(intake, config, target, sighting)
    if seen.complete:
        memory = {s.key: s.version for s in seen.sightings}
    else:
        memory.update((s.key, s.version) for s in seen.sightings)
        memory = dict(list(memory.items())[-SEEN_CAP:])
    state["seen"] = memory
    return told


async def _accept_run(
    intake: Intake, config: RoutingConfig, target: Target, sighting: Sighting
) -> int:
    payload = await _payload(target, sighting)
    try:
        events = SOURCE_MODULES[target.source].parse(sighting.headers, payload)
    except (Ignored, Malformed) as exc:
        log(logging.WARNING, "polled run not understood", target=target.key, error=str(exc))
        return 0
    events = await intake.store.read(partial(_unheard, events))
    if not events:
        return 0
    for event in events:
        # Logged as the event's sender_delivery_id: where it came from.
        event.delivery_id = f"poll:{target.key}"
    try:
        await accept(intake, events, f"poll:{events[0].fingerprint}", partial(plan, config))
    except Duplicate:
        return 0
    return len(events)


async def _payload(target: Target, sighting: Sighting) -> dict[str, Any]:
    """The run's payload with its details; told from the list when the details cannot be
    read (the run deleted meanwhile, a permission on it alone), so one run cannot block
    its target. The API down or rate limited still fails the poll."""
    if sighting.details is None:
        return sighting.payload
    try:
        return await sighting.details()
    except TargetFailed as exc:
        log(logging.WARNING, "run details not read", target=target.key, run=sighting.key,
            error=str(exc))  # fmt: skip
        return sighting.payload


def _unheard(events: list[Event], tx: ReadTx) -> list[Event]:
    """The events whose run the store does not already hold in that status."""
    return [e for e in events if not _heard(tx, e)]


def _heard(tx: ReadTx, event: Event) -> bool:
    if not tracked(event) or event.run_id is None:
        return False
    known = tx.get_run(pipeline_key(event.labels), event.run_id)
    return known is not None and known.status == event.status
