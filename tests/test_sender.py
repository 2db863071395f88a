"""The sender's bookkeeping holds under any mix of sends, retries, errors and folding."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from app.bus import records
from app.bus.ratelimit import SlidingWindow
from app.bus.sender import Sender, _fresh
from app.store import DeliveryRecord

# What one attempt of a delivery does: finish it, fail it (retry shortly), or raise.
OUTCOMES = st.sampled_from(["sent", "sent", "retry", "error"])
DELIVERY = st.tuples(st.integers(0, 4), st.lists(OUTCOMES, min_size=1, max_size=3))


def delivery(number: int, key: int) -> DeliveryRecord:
    return DeliveryRecord(
        id=f"{number:06d}",
        receiver="r",
        channel_type="webhook",
        route="0",
        group_key=f"g{number}",
        # Fixed width, as real event ids (their time first) are: a subject's deliveries go
        # out in the order of their events.
        event_ids=[f"{number:019d}-e"],
        state="pending",
        created_at=time.time(),
        order_key=f"k{key}",
    )


def check(sender: Sender) -> None:
    """The counts and indexes the sender keeps agree with its queues."""
    queues = sender._by_key
    assert all(queues.values()), "no empty queue is kept"
    assert sender._busy <= set(queues)
    assert len(sender._busy) <= sender.concurrency
    fresh = sum(
        _fresh(d) for key, queue in queues.items() for d in list(queue)[key in sender._busy :]
    )
    assert sender._fresh == fresh
    scheduled = set(sender._ready) | {key for _, key in sender._sleeping}
    assert set(queues) - sender._busy <= scheduled, "every idle subject is scheduled"


async def play(plan: list[tuple[int, list[str]]], concurrency: int, limit: int) -> None:
    # Every delivery ends sent, after its scripted failures.
    scripts = {f"{n:06d}": [*outcomes, "sent"] for n, (_, outcomes) in enumerate(plan)}
    finished: dict[str, list[str]] = defaultdict(list)
    digests: list[DeliveryRecord] = []

    async def attempt(d: DeliveryRecord, limiter: SlidingWindow) -> bool:
        await asyncio.sleep(0.001)
        script = scripts.get(d.id, ["sent"])  # a digest is sent at once
        outcome = script.pop(0) if len(script) > 1 else script[0]
        if outcome == "error":
            raise RuntimeError("store refused")
        if outcome == "retry":
            d.attempts.append({"outcome": "failed"})
            d.next_attempt_at = time.time() + 0.002
            return False
        finished[d.order_key].append(d.id)
        return True

    async def fold(backlog: list[DeliveryRecord]) -> DeliveryRecord:
        digest = records.fold(backlog)
        digests.append(digest)
        return digest

    sender = Sender("r", SlidingWindow(limit, 0.02), attempt, fold, concurrency, error_pause=0.002)
    sender.task = asyncio.create_task(sender.run())
    made = [delivery(n, key) for n, (key, _) in enumerate(plan)]
    for d in made:
        sender.enqueue(d)
        check(sender)
        await asyncio.sleep(0)
        check(sender)
    deadline = time.monotonic() + 20
    while len(sender):
        assert time.monotonic() < deadline, "the sender never drained"
        await asyncio.sleep(0.001)
        check(sender)
    await sender.stop()
    folded = {d.id for d in made if d.state == "folded"}
    for key, ids in finished.items():
        if key != "digest":
            assert ids == sorted(ids), "one subject goes out in order"
    told = [i for key, ids in finished.items() if key != "digest" for i in ids]
    assert sorted(told + sorted(folded)) == [d.id for d in made], "each exactly once"
    assert {i for d in digests for i in d.event_ids} == {f"{int(i):019d}-e" for i in folded}


@settings(max_examples=60, deadline=None)
@given(
    plan=st.lists(DELIVERY, min_size=1, max_size=25),
    concurrency=st.integers(1, 4),
    limit=st.integers(1, 6),
)
def test_bookkeeping_holds_and_every_delivery_is_told_once(
    plan: list[tuple[int, list[str]]], concurrency: int, limit: int
) -> None:
    """Random deliveries over five subjects, each sent, retried or erroring: the counts stay
    true at every step, each subject stays in order, every delivery ends once (sent or
    folded into a digest)."""
    asyncio.run(play(plan, concurrency, limit))
