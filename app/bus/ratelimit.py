"""Per-receiver send budgets.

A sliding-window log, not a token bucket: a bucket of capacity C refilling at r lets
C + r·W messages through in a window W, and DingTalk/WeCom answer the 21st message in a
minute with a ten-minute ban. The log guarantees at most `limit` sends in any `window`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._paused_until = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next send fits the budget (0 when it fits now)."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        wait = max(0.0, self._paused_until - now)
        if len(self._sent) >= self.limit:
            wait = max(wait, self._sent[0] + self.window - now)
        return wait

    def record(self) -> None:
        self._sent.append(self._clock())

    def pause(self, seconds: float) -> None:
        """The provider said "too fast": send nothing until its penalty has passed."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def capacity_per(self, seconds: float) -> float:
        return self.limit * seconds / self.window
