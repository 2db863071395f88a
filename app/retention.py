"""Keeping the database bounded: prune expired rows every prune_interval, in batches."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from functools import partial

from app.logs import log
from app.metrics import PRUNED
from app.store import Retention, Store, WriteTx

# Rows per table per transaction: a prune never holds the writer for long, so webhook
# acknowledgements keep flowing while a large backlog is removed.
BATCH = 2000
# Pages handed back to the file system per transaction (4 KiB each).
RECLAIM_PAGES = 2000


async def prune_once(store: Store, policy: Retention, now: float) -> dict[str, int]:
    """Delete everything past its age as of `now`; rows removed, by table."""
    removed: Counter[str] = Counter()
    while True:
        batch = await store.write(partial(_prune, policy=policy, now=now))
        removed.update(batch)
        if all(n < BATCH for n in batch.values()):
            break
    if sum(removed.values()):
        while await store.write(lambda tx: tx.reclaim_space(RECLAIM_PAGES)) == RECLAIM_PAGES:
            pass
    for table, count in removed.items():
        PRUNED.labels(table).inc(count)
    return dict(removed)


def _prune(tx: WriteTx, *, policy: Retention, now: float) -> dict[str, int]:
    return tx.prune(policy, now, BATCH)


async def prune_forever(
    store: Store, policy: Retention, interval: float, clock: Callable[[], float] = time.time
) -> None:
    """The lifespan's background task: prune now, then every `interval` seconds."""
    while True:
        try:
            removed = await prune_once(store, policy, clock())
        except Exception as exc:
            # A busy or failing disk: retention can wait for the next round.
            log(logging.ERROR, "pruning failed, will retry", error=str(exc))
        else:
            if any(removed.values()):
                log(logging.INFO, "pruned expired rows", **removed)
        await asyncio.sleep(interval)
