"""When to try a failed delivery again, and when to give up on it."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    max_age: float = 6 * 3600.0
    base: float = 1.0
    cap: float = 600.0

    def next_delay(self, attempts: int, retry_after: float | None) -> float:
        """Full jitter (AWS architecture blog): spreads retries of a storm apart.

        A provider's Retry-After is a floor: sending earlier only earns another 429.
        """
        backoff = random.uniform(0, min(self.cap, self.base * 2 ** (attempts - 1)))
        return max(backoff, retry_after or 0.0)

    def gives_up(self, attempts: int, age: float, delay: float) -> bool:
        return attempts >= self.max_attempts or age + delay > self.max_age
