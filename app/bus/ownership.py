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
import contextlib
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
        # What the last renewals found to take over or to give away, for `settle`.
        self._gained: set[str] = set()
        self._excess: set[str] = set()
        # Being handed over: still leased here until released, no longer worked on.
        self._handing: set[str] = set()
        self._work = asyncio.Event()
        # After renewals failed (the database was down for everyone), for one ttl only
        # the receivers held before are taken back: the other replicas get the time to
        # come back and record the sends they made meanwhile, which a replica taking
        # their receivers at once would find open and send again.
        self._held_before: set[str] = set()
        self._only_mine_until = 0.0

    async def round(self) -> int:
        """One renewal and then the work it found; how much open work was taken in hand."""
        await self.renew()
        return await self.settle()

    async def renew(self) -> None:
        """Hold this replica's share and note what it gained or has in excess. Only the
        lease write is awaited (ahead of queued writes): a takeover or a handover may take
        seconds, and a renewal waiting for one would let the leases lapse under load and
        hand the receivers back and forth."""
        receivers = sorted(set(self._receivers()))
        now = time.time()
        takeable = receivers
        if self._only_mine_until < 0 or now < self._only_mine_until:
            takeable = [r for r in receivers if r in self._held_before]

        def hold(tx: WriteTx) -> tuple[dict[str, float], int]:
            alive = tx.heartbeat(self.owner, now, self.ttl)
            share = math.ceil(len(receivers) / max(1, alive))
            return tx.hold_leases(self.owner, takeable, share, now, self.ttl), share

        leases, share = await self.store.write(hold, urgent=True)
        if self._only_mine_until < 0:
            self._only_mine_until = time.time() + self.ttl
        held = {r: t for r, t in leases.items() if r not in self._handing}
        lost = self.bus.owned() - set(held) - self._handing
        if lost:
            log(logging.WARNING, "receivers taken over by another replica", receivers=sorted(lost))
            self._gained -= lost
            await self.bus.let_go(lost)
        # More replicas than when these were taken: give the excess to the newcomers.
        self._excess = set(sorted(held)[share:])
        self._gained |= set(held) - self.bus.owned() - self._excess
        self.bus.hold(held, margin=self.ttl / 3, gained=self._gained)
        self._held_before = set(held) | self._handing
        if self._gained or self._excess:
            self._work.set()

    async def settle(self) -> int:
        """Hand the excess over, take over what was gained, then pick up the work other
        replicas stored for this one; how much open work was taken in hand."""
        excess, self._excess = self._excess, set()
        if excess:
            await self._hand_over(excess)
        gained, self._gained = self._gained, set()
        gained &= self.bus.owned()
        resumed = 0
        if gained:
            try:
                resumed = await self.bus.take_over(gained)
            except Exception:
                self._gained |= gained  # the next settle tries again
                raise
            log(logging.INFO, "receivers taken over", receivers=sorted(gained), resumed=resumed)
        return resumed + await self.bus.pick_up()

    async def _hand_over(self, receivers: set[str]) -> None:
        self._handing |= receivers
        try:
            await self.bus.let_go(receivers, drain=True)
            await self.store.write(
                lambda tx: tx.release_leases(self.owner, sorted(receivers)), urgent=True
            )
        finally:
            self._handing -= receivers
        log(logging.INFO, "receivers handed over", receivers=sorted(receivers))

    async def run(self) -> None:
        """Renew for ever, and do the work renewals find beside it; a renewal that fails
        (the store is down) is tried again, and the receivers whose leases lapse meanwhile
        stop being sent to here."""
        settling = asyncio.create_task(self._settle_often())
        try:
            while True:
                await asyncio.sleep(self.renew_every)
                try:
                    await self.renew()
                except Exception as exc:
                    log(logging.ERROR, "lease renewal failed", owner=self.owner, error=str(exc))
                    self._only_mine_until = -1.0  # from the next renewal that succeeds
                    lapsed = self.bus.lapsed()
                    if lapsed:
                        await self.bus.let_go(lapsed)
        finally:
            settling.cancel()

    async def _settle_often(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), self.renew_every)
            self._work.clear()
            try:
                await self.settle()
            except Exception as exc:
                log(logging.ERROR, "taking work in hand failed", owner=self.owner, error=str(exc))

    async def release(self) -> None:
        """Shutting down: give every lease back, so another replica takes over at once."""
        await self.store.write(lambda tx: tx.release_leases(self.owner))
