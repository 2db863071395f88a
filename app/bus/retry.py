"""When to try a failed delivery again, and when to give up on it."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, for as long as `max_age` allows.

    The time budget, not a count, bounds the attempts: a receiver down for an hour gets
    tried every `max_interval` meanwhile and hears everything once it is back.
    """

    max_age: float = 6 * 3600.0
    base: float = 1.0
    max_interval: float = 300.0
    # Give up after this many attempts even within max_age (None: the age alone decides).
    max_attempts: int | None = None

    def next_delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before attempt `attempts + 1`.

        "Equal jitter" (AWS architecture blog, "Exponential Backoff And Jitter"): at least
        half the exponential step, so waits keep growing, plus a random half that spreads
        the retries of a storm apart. A provider's Retry-After is a floor: sending
        earlier only earns another 429.
        """
        step = min(self.max_interval, self.base * 2.0 ** min(attempts - 1, 60))
        backoff = step / 2 + random.uniform(0, step / 2)
        return max(backoff, retry_after or 0.0)

    def gives_up(self, attempts: int, age: float, delay: float) -> bool:
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return age + delay > self.max_age
