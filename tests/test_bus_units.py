"""The bus's small parts: the send budget, the retry schedule, group keys."""

from __future__ import annotations

import itertools

from app.bus.ratelimit import SlidingWindow
from app.bus.retry import RetryPolicy
from app.bus.target import Target
from busharness import alerts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_window_never_lets_more_than_limit_through_in_any_window() -> None:
    """Sending whenever allowed for 10 minutes never puts 21 sends in one 60 s window."""
    clock = Clock()
    window = SlidingWindow(20, 60.0, clock)
    sends: list[float] = []
    while clock.now < 600:
        wait = window.delay()
        if wait == 0:
            await window.acquire()
            sends.append(clock.now)
            window.release()
        clock.now += max(wait, 0.5)
    assert len(sends) >= 180
    for i, start in enumerate(sends):
        assert sum(1 for t in sends[i:] if t < start + 60) <= 20


async def test_in_flight_sends_count_against_the_budget() -> None:
    """Slots taken by sends still waiting for an answer are not handed out again."""
    clock = Clock()
    window = SlidingWindow(2, 60.0, clock)
    await window.acquire()
    await window.acquire()
    assert window.delay() > 0
    clock.now = 5
    window.release()
    assert window.delay() == 60, "the finished send is stamped when it ended, at 5 s"
    clock.now = 65
    assert window.delay() == 0, "at 65 s it has left the window; one send is still in flight"
    await window.acquire()
    assert window.delay() > 0


def test_pause_holds_every_send_until_the_penalty_ends() -> None:
    """After a provider's 'send too fast' the robot is paused for the whole penalty."""
    clock = Clock()
    window = SlidingWindow(20, 60.0, clock)
    window.pause(600)
    assert window.delay() == 600
    clock.now = 599
    assert window.delay() == 1
    clock.now = 600
    assert window.delay() == 0


def test_retry_delay_honours_retry_after_and_caps() -> None:
    """Backoff is jittered below the cap, yet never earlier than the provider's Retry-After."""
    policy = RetryPolicy(base=1, max_interval=30)
    delays = [policy.next_delay(10, None) for _ in range(200)]
    assert all(15 <= d <= 30 for d in delays)
    assert len({round(d, 3) for d in delays}) > 100, "jitter spreads retries"
    assert all(policy.next_delay(1, 45) >= 45 for _ in range(50))


def test_retry_gives_up_on_age_or_an_explicit_count() -> None:
    """A delivery dies when the next try would pass max age, or after max_attempts if set."""
    policy = RetryPolicy(max_attempts=3, max_age=100)
    assert not policy.gives_up(2, age=10, delay=5)
    assert policy.gives_up(3, age=10, delay=5)
    assert policy.gives_up(1, age=90, delay=20)
    assert not RetryPolicy(max_age=100).gives_up(1000, age=10, delay=5)


def test_default_retries_outlast_an_hour_long_outage() -> None:
    """With the defaults a delivery is still being tried after an hour down, at least
    every five minutes, with waits that grow at first; it gives up only after six hours."""
    policy = RetryPolicy()
    elapsed, attempts, delays = 0.0, 0, []
    while True:
        attempts += 1
        delay = policy.next_delay(attempts, None)
        if policy.gives_up(attempts, elapsed, delay):
            break
        delays.append(delay)
        elapsed += delay
    assert elapsed > 5.9 * 3600
    assert max(delays) <= 300
    assert delays[:6] == sorted(delays[:6])
    first_hour = [d for d, t in zip(delays, itertools.accumulate(delays), strict=True) if t < 3600]
    assert len(first_hour) >= 12 and max(first_hour) <= 300


def test_group_key_follows_group_by() -> None:
    """Events sharing the group_by labels share a group; '...' groups by every label."""
    a, b = alerts(2)
    by_name = Target("1", "r", group_by=("alertname",), group_wait=5)
    assert by_name.group_key(a) == by_name.group_key(b)
    assert by_name.group_key(a)[1] == {"alertname": "High CPU Temperature"}
    by_all = Target("1", "r", group_by=("...",), group_wait=5)
    assert by_all.group_key(a) != by_all.group_key(b)
    no_batching = Target("1", "r")
    assert no_batching.group_key(a) != no_batching.group_key(b)
