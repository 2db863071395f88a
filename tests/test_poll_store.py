"""The pollers' state on each real store: claims, saved cursors, source health."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from app.store import Store
from app.store.polls import PollTarget, SourceHealth
from stores import Backend

TARGET = "github:repo:octo-org/octo-repo"


async def claim(
    store: Store, owner: str, now: float, due_before: float | None = None, ttl: float = 30
) -> PollTarget | None:
    return await store.write(
        lambda tx: tx.claim_poll(TARGET, "github", owner, now, ttl, due_before)
    )


async def test_one_claim_at_a_time_until_finished_or_lapsed(store: Store) -> None:
    """A held target cannot be claimed by another owner until given back or lapsed."""
    first = await claim(store, "a", now=100)
    assert first is not None and first.state == {} and first.owner == "a"
    assert await claim(store, "b", now=110) is None
    # Lapsed: another replica takes over a target whose poller died mid-poll.
    taken = await claim(store, "b", now=131)
    assert taken is not None and taken.owner == "b"
    # The first owner's late answer is not saved over the new owner's.
    done = replace(first, state={"etag": "stale"}, last_attempt=100)
    assert await store.write(lambda tx: tx.finish_poll("a", done)) is None


async def test_finished_poll_state_is_saved_and_due_again_after_its_interval(
    store: Store,
) -> None:
    """What a poll learnt is read back by the next claim, which waits for the schedule."""
    first = await claim(store, "a", now=100, due_before=40)
    assert first is not None
    done = replace(first, state={"etag": 'W/"1"', "seen": {"7": "success"}}, last_attempt=100.0)
    before = await store.write(lambda tx: tx.finish_poll("a", done))
    assert before is not None and before.state == {}
    # Polled at 100 with a 60 s interval: not due at 130, due at 160.
    assert await claim(store, "b", now=130, due_before=70) is None
    again = await claim(store, "b", now=160, due_before=100)
    assert again is not None and again.state == {"etag": 'W/"1"', "seen": {"7": "success"}}
    [row] = await store.read(lambda tx: tx.poll_targets([TARGET, "gitlab:project:1"]))
    assert row.owner == "b" and row.last_attempt == 100.0


async def test_backoff_holds_a_target_and_release_gives_claims_back(store: Store) -> None:
    """A target backing off is not due before retry_at; a stopping owner frees its claims."""
    first = await claim(store, "a", now=100, due_before=100)
    assert first is not None
    failed = replace(first, last_attempt=100.0, retry_at=200.0, failures=1, last_error="503")
    await store.write(lambda tx: tx.finish_poll("a", failed))
    assert await claim(store, "a", now=150, due_before=150) is None
    held = await claim(store, "a", now=201, due_before=201)
    assert held is not None and held.failures == 1 and held.last_error == "503"
    await store.write(lambda tx: tx.release_polls("a"))
    assert await claim(store, "b", now=202) is not None


async def test_two_replicas_claiming_at_once_get_one_claim(backend: Backend) -> None:
    """Concurrent claims from two store connections (two replicas) give the target to one."""
    stores = [backend.store(), backend.store()]
    for s in stores:
        await s.start()
    try:
        results = await asyncio.gather(
            *(
                claim(s, owner, now=100, due_before=100)
                for s, owner in zip(stores, "ab", strict=True)
            )
        )
    finally:
        for s in stores:
            await s.close()
    assert sum(r is not None for r in results) == 1


async def test_source_health_is_shared_and_saved(store: Store) -> None:
    """A CI system's breaker and rate-limit pause are one row every replica reads."""
    health = await store.write(lambda tx: tx.lock_source_health("github"))
    assert health == SourceHealth("github")
    paused = replace(
        health, failures=3, down_since=50.0, paused_until=400.0, pause_reason="rate limit"
    )
    await store.write(lambda tx: tx.save_source_health(paused))
    assert await store.read(lambda tx: tx.sources_health()) == [paused]
