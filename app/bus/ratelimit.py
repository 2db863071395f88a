"""Per-receiver send budgets.

A sliding-window log, not a token bucket: a bucket of capacity C refilling at r lets
C + r·W messages through in a window W, and DingTalk/WeCom answer the 21st message in a
minute with a ten-minute ban. The log guarantees at most `limit` sends in any `window`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

# How often a sender re-checks when every slot is taken by a send still in flight.
IN_FLIGHT_POLL = 0.005


class SlidingWindow:
    """Sends in flight count against the budget; a finished one is stamped when it ends,
    which is no earlier than the provider counted it, so our window never closes before
    the provider's."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time) -> None:
        """`clock` is wall time by default: the stamps are stored (app/store/shared.py) so
        that a restart or the replica taking the receiver over keeps to the same budget."""
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next send fits the budget (0 when it fits now)."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        wait = max(0.0, self._paused_until - now)
        excess = len(self._sent) + self._in_flight - self.limit
        if excess >= 0:
            # Room comes when the (excess+1)-th oldest send leaves the window, or, when
            # in-flight sends alone fill the budget, when one of them ends.
            until = (
                self._sent[excess] + self.window - now
                if excess < len(self._sent)
                else IN_FLIGHT_POLL
            )
            wait = max(wait, until)
        return wait

    async def acquire(self) -> None:
        """Wait for room in the budget and take one slot."""
        while (wait := self.delay()) > 0:  # noqa: ASYNC110 - a budget, not an event
            await asyncio.sleep(wait)
        self._in_flight += 1

    def release(self) -> float:
        """The send holding a slot got its answer (or failed); the time it is counted at."""
        self._in_flight -= 1
        stamp = self._clock()
        self._sent.append(stamp)
        return stamp

    def seed(self, sent: list[float], paused_until: float) -> None:
        """Sends made before this window existed (by this receiver's previous owner), and
        the provider's penalty still running."""
        self._sent = deque(sorted([*sent, *self._sent]))
        self._paused_until = max(self._paused_until, paused_until)

    def pause(self, seconds: float) -> float:
        """The provider said "too fast": send nothing until its penalty has passed (when
        it ends is returned, to be stored)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        return self._paused_until
