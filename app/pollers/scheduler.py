"""Polling every target of the config in force, each from one replica at a time.

Every `tick` the scheduler reads the targets' rows and their CI systems' health, and
polls the targets that are due (interval elapsed, no backoff, no rate-limit pause, no
open breaker) and not claimed by another replica. A poll claims its target in the store,
asks the API (app/pollers/<ci>.py), reports what changed as events through the same
intake as a webhook (app/accept.py), then saves the poller's state and gives the claim
back in one transaction. Reported, then saved: a poll that dies between the two is
repeated, and its events are refused as duplicates (their dedup key is their
fingerprint), so nobody hears of a run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import httpx

from app.accept import Intake
from app.logs import log
from app.metrics import POLL_LAST_SUCCESS, POLL_REQUESTS, POLL_SOURCE_UP, POLLS
from app.pollers import github, gitlab, jenkins
from app.pollers.api import Api, PollError, RateLimited, TargetFailed, Unreachable
from app.pollers.base import Poller
from app.pollers.health import after_poll, probe
from app.pollers.report import report
from app.pollers.spec import PollSpec, Target
from app.routing.config import RoutingConfig
from app.store import Store, StoreUnavailable, WriteTx
from app.store.polls import PollTarget, SourceHealth

POLLERS: dict[str, Poller] = {
    "jenkins": jenkins.JenkinsPoller(),
    "gitlab": gitlab.GitLabPoller(),
    "github": github.GitHubPoller(),
}
TICK = 1.0
# Polls of one CI system under way at once, per replica.
CONCURRENCY = 4
# A target backing off after its own errors waits at most this long.
MAX_BACKOFF = 3600.0


class Scheduler:
    def __init__(
        self,
        store: Store,
        intake: Intake,
        config: Callable[[], RoutingConfig],
        owner: str,
        *,
        tick: float = TICK,
        retry_delay: float = 1.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.intake = intake
        self.config = config
        self.owner = owner
        self.tick = tick
        self.retry_delay = retry_delay
        self.client = client or httpx.AsyncClient(headers={"User-Agent": "signalbox-poller"})
        self.clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Poll for ever; a round that fails (the store is down) is tried again next tick,
        and said once until a round succeeds again."""
        failing = False
        while True:
            try:
                await self.round()
            except Exception as exc:
                if not failing:
                    log(logging.ERROR, "poll schedule not read", error=repr(exc))
                failing = True
            else:
                if failing:
                    log(logging.INFO, "poll schedule read again")
                failing = False
            await asyncio.sleep(self.tick)

    async def round(self) -> list[str]:
        """Start the polls that are due; their targets."""
        config = self.config()
        targets = [(spec, t) for spec in config.polls.values() for t in spec.targets()]
        if not targets:
            return []
        now = self.clock()
        keys = [t.key for _, t in targets]
        rows, health = await self.store.read(
            lambda tx: (
                {r.target: r for r in tx.poll_targets(keys)},
                {h.source: h for h in tx.sources_health()},
            )
        )
        started = []
        for spec, target in targets:
            if target.key in self._running or not self._due(spec, rows.get(target.key), now):
                continue
            source_health = health.get(target.source, SourceHealth(target.source))
            if source_health.paused_until > now or self._busy(target.source) >= CONCURRENCY:
                continue
            task = asyncio.create_task(self._poll_safely(config, spec, target))
            self._running[target.key] = task
            task.add_done_callback(partial(self._ended, target.key))
            started.append(target.key)
        return started

    async def poll_due(self) -> list[str]:
        """Start the polls that are due and wait for them to end; their targets."""
        started = await self.round()
        await asyncio.gather(*(self._running[k] for k in started if k in self._running))
        return started

    def _ended(self, key: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)

    async def close(self) -> None:
        """Cancel the polls under way and give their claims back (another replica polls
        them at once, without waiting for the claims to lapse)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
        with contextlib.suppress(StoreUnavailable):
            await self.store.write(lambda tx: tx.release_polls(self.owner))

    def _due(self, spec: PollSpec, row: PollTarget | None, now: float) -> bool:
        if row is None:
            return True
        if row.owner not in (None, self.owner) and row.lease_until > now:
            return False
        attempted = row.last_attempt or 0.0
        return attempted <= now - spec.interval.total_seconds() and row.retry_at <= now

    def _busy(self, source: str) -> int:
        return sum(key.startswith(f"{source}:") for key in self._running)

    async def _poll_safely(self, config: RoutingConfig, spec: PollSpec, target: Target) -> None:
        """One poll of one target, if this replica gets its claim; never raises."""
        try:
            await self._poll(config, spec, target)
        except StoreUnavailable as exc:
            # The claim lapses; the poll is made again once the store answers.
            log(logging.ERROR, "poll not saved", target=target.key, error=str(exc))
        except Exception as exc:
            log(logging.ERROR, "poll crashed", target=target.key, error=repr(exc))

    async def _poll(self, config: RoutingConfig, spec: PollSpec, target: Target) -> None:
        now = self.clock()
        interval = spec.interval.total_seconds()
        # Long enough for every page and retry; a claim that lapses mid-poll lets another
        # replica poll too, and the duplicate events are refused by their dedup key.
        ttl = 30.0 + 12 * spec.timeout.total_seconds()

        def claim(tx: WriteTx) -> PollTarget | None:
            health = tx.lock_source_health(target.source)
            probing = probe(health, now)
            if probing is None:
                return None
            row = tx.claim_poll(target.key, target.source, self.owner, now, ttl, now - interval)
            if row is not None and probing != health:
                tx.save_source_health(probing)
            return row

        row = await self.store.write(claim)
        if row is None:
            return
        poller = POLLERS[target.source]
        base = spec.api_base()
        api = Api(
            self.client,
            base,
            poller.auth_headers(spec),
            spec.timeout.total_seconds(),
            retry_delay=self.retry_delay,
        )
        # What was learnt from another server (the url changed) means nothing here.
        state = copy.deepcopy(row.state) if row.state.get("api") == base else {"api": base}
        error: PollError | None = None
        news = 0
        try:
            seen = await poller.poll(api, spec, target, state, now)
            news = await report(self.intake, config, spec, target, state, seen, now)
        except PollError as exc:
            error = exc
        finally:
            POLL_REQUESTS.labels(target.source).inc(api.requests)
        done = _outcome(row, state, error, now, interval)
        if error is None:
            POLL_LAST_SUCCESS.labels(target.source, target.key).set(now)
        before, after = await self.store.write(
            lambda tx: _finish(tx, self.owner, done, error, api, now)
        )
        _observe(target, spec, row, error, before, after, news, now)


def _outcome(
    row: PollTarget, state: dict[str, Any], error: PollError | None, now: float, interval: float
) -> PollTarget:
    if error is None:
        return replace(
            row, state=state, last_attempt=now, last_success=now, retry_at=0.0, failures=0,
            last_error=None,
        )  # fmt: skip
    retry_at = 0.0
    if isinstance(error, TargetFailed):
        retry_at = now + min(interval * 2 ** (row.failures + 1), MAX_BACKOFF)
    # What a failed poll learnt is not kept: the next one starts from the last success.
    return replace(
        row, last_attempt=now, retry_at=retry_at, failures=row.failures + 1,
        last_error=str(error),
    )  # fmt: skip


def _finish(
    tx: WriteTx, owner: str, done: PollTarget, error: PollError | None, api: Api, now: float
) -> tuple[SourceHealth, SourceHealth]:
    # The health row is locked first, as a claim does: two replicas' transactions take
    # the rows in one order and cannot deadlock (PostgreSQL).
    before = tx.lock_source_health(done.source)
    tx.finish_poll(owner, done)
    after = after_poll(before, error, api.rate, now)
    if after != before:
        tx.save_source_health(after)
    return before, after


def _observe(
    target: Target,
    spec: PollSpec,
    row: PollTarget,
    error: PollError | None,
    before: SourceHealth,
    after: SourceHealth,
    news: int,
    now: float,
) -> None:
    """Metrics and the log lines an operator needs: first failures and recoveries only."""
    source = target.source
    POLL_SOURCE_UP.labels(source).set(0 if after.down_since is not None else 1)
    if after.down_since is None and before.paused_until <= now < after.paused_until:
        # A rate limit hit, or nearly spent: said once, when the pause begins.
        until = time.strftime("%H:%M:%SZ", time.gmtime(after.paused_until))
        log(
            logging.WARNING,
            "CI API rate limit: polls paused",
            source=source,
            until=until,
            reason=after.pause_reason,
        )
    if error is None:
        POLLS.labels(source, target.key, "news" if news else "unchanged").inc()
        if row.failures:
            log(logging.INFO, "poll target answers again", target=target.key)
        if before.down_since is not None:
            log(logging.INFO, "CI API reachable again", source=source, url=spec.url)
        return
    outcome = {RateLimited: "rate_limited", Unreachable: "unreachable"}.get(type(error), "failed")
    POLLS.labels(source, target.key, outcome).inc()
    if isinstance(error, Unreachable):
        if before.failures == 0:
            log(logging.WARNING, "CI API not answering", source=source, error=str(error))
        elif before.down_since is None and after.down_since is not None:
            log(
                logging.ERROR,
                "CI API unreachable: polls paused (circuit breaker open)",
                source=source,
                url=spec.url,
                failures=after.failures,
                error=str(error),
            )
    elif isinstance(error, TargetFailed) and row.failures == 0:
        log(logging.WARNING, "poll target failed", target=target.key, error=str(error))
