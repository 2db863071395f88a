"""Which receivers' delivery work is this replica's: leases held in the store.

Every receiver is owned by one live replica at a time, so its ordered sending, grouping,
dedup window and rate limit hold across the whole cluster. Each replica renews its
leases every `renew` seconds; a lease not renewed for `ttl` lapses and another replica
takes it, resuming the receiver's work from the store exactly as a restart resumes it.
Replicas share the receivers out: each holds at most its share (receivers ÷ live
replicas, rounded up) and hands the excess over when more replicas come, after the sends
it has under way have ended (so a handover sends nothing twice).

With one process (SQLite) the one replica holds every lease: the same code, one owner.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable

from app.bus.worker import Bus
from app.logs import log
from app.store import Store, WriteTx

# Seconds a lease lasts unless renewed, and how often it is renewed.
LEASE_TTL = 10.0
RENEW_EVERY = 2.0


class Ownership:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        receivers: Callable[[], list[str]],
        ttl: float = LEASE_TTL,
        renew_every: float = RENEW_EVERY,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.owner = owner or uuid.uuid4().hex[:12]
        self._receivers = receivers
        self.ttl = ttl
        self.renew_every = renew_every

    async def round(self) -> int:
        """One renewal: hold this replica's share, take over what it gained, let go of
        what it lost or gave away; then pick up work other replicas stored for it. How
        much open work was taken in hand."""
        receivers = sorted(set(self._receivers()))
        now = time.time()

        def hold(tx: WriteTx) -> tuple[dict[str, float], int]:
            alive = tx.heartbeat(self.owner, now, self.ttl)
            share = math.ceil(len(receivers) / max(1, alive))
            return tx.hold_leases(self.owner, receivers, share, now, self.ttl), share

        held, share = await self.store.write(hold)
        # More replicas than when these were taken: give the excess to the newcomers.
        excess = sorted(held)[share:]
        lost = self.bus.owned() - set(held)
        if lost:
            log(logging.WARNING, "receivers taken over by another replica", receivers=sorted(lost))
            await self.bus.let_go(lost)
        if excess:
            await self._hand_over(set(excess))
            for receiver in excess:
                held.pop(receiver)
        gained = set(held) - self.bus.owned()
        self.bus.hold(held, margin=self.ttl / 3)
        resumed = 0
        if gained:
            resumed = await self.bus.take_over(gained)
            log(logging.INFO, "receivers taken over", receivers=sorted(gained), resumed=resumed)
        return resumed + await self.bus.pick_up()

    async def _hand_over(self, receivers: set[str]) -> None:
        await self.bus.let_go(receivers, drain=True)
        await self.store.write(lambda tx: tx.release_leases(self.owner, sorted(receivers)))
        log(logging.INFO, "receivers handed over", receivers=sorted(receivers))

    async def run(self) -> None:
        """Renew for ever; a round that fails (the store is down) is tried again, and the
        receivers whose leases lapse meanwhile stop being sent to here."""
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self.round()
            except Exception as exc:
                log(logging.ERROR, "lease renewal failed", owner=self.owner, error=str(exc))
                lapsed = self.bus.lapsed()
                if lapsed:
                    await self.bus.let_go(lapsed)

    async def release(self) -> None:
        """Shutting down: give every lease back, so another replica takes over at once."""
        await self.store.write(lambda tx: tx.release_leases(self.owner))
