"""A polled CI system's health after each poll: its circuit breaker and rate-limit pause.

Kept in the store (app/store/polls.py), so every replica polling that system honours one
breaker and one pause. The breaker opens after BREAKER_AFTER polls in a row could not
reach the API; while open, nothing is polled until the pause ends, then one poll probes
(the replica that takes the probe pushes the pause on by PROBE_WINDOW, so the others
wait for its answer). Each failed probe doubles the pause, up to BREAKER_MAX.
"""

from __future__ import annotations

from dataclasses import replace

from app.pollers.api import PollError, RateInfo, RateLimited, Unreachable
from app.store.polls import SourceHealth

BREAKER_AFTER = 3
BREAKER_BASE = 30.0
BREAKER_MAX = 600.0
PROBE_WINDOW = 60.0
# With this few requests left in the API's window, polls wait for its reset instead of
# spending the last ones (GitHub counts a 200 against the limit; a 304 is free).
RATE_RESERVE = 10
MAX_PAUSE = 3600.0


def after_poll(
    health: SourceHealth, error: PollError | None, rate: RateInfo, now: float
) -> SourceHealth:
    """The health once a poll ended with `error` (None: it succeeded)."""
    remaining = rate.remaining if rate.remaining is not None else health.rate_remaining
    reset = rate.reset if rate.reset is not None else health.rate_reset
    health = replace(health, rate_remaining=remaining, rate_reset=reset)
    if isinstance(error, Unreachable):
        failures = health.failures + 1
        if failures < BREAKER_AFTER:
            return replace(health, failures=failures, last_error=str(error))
        pause = min(BREAKER_BASE * 2 ** (failures - BREAKER_AFTER), BREAKER_MAX)
        return replace(
            health,
            failures=failures,
            down_since=health.down_since or now,
            paused_until=now + pause,
            pause_reason="unreachable",
            last_error=str(error),
        )
    # The API answered (even a refusal): it is reachable.
    health = replace(health, failures=0, down_since=None, last_error=None)
    if isinstance(error, RateLimited):
        until = min(max(health.paused_until, error.until), now + MAX_PAUSE)
        return replace(health, paused_until=until, pause_reason=str(error))
    if remaining is not None and remaining <= RATE_RESERVE and reset is not None and reset > now:
        reason = f"{remaining} requests left until the rate limit resets"
        return replace(health, paused_until=min(reset, now + MAX_PAUSE), pause_reason=reason)
    if health.pause_reason == "unreachable" or health.paused_until <= now:
        return replace(health, paused_until=0.0, pause_reason=None)
    return health


def probe(health: SourceHealth, now: float) -> SourceHealth | None:
    """The health with this replica's probe under way, or None when the breaker is open
    and its pause not over (or another replica is probing)."""
    if health.down_since is None:
        return health
    if health.paused_until > now:
        return None
    return replace(health, paused_until=now + PROBE_WINDOW)
