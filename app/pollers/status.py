"""What GET /api/config says about polling: per CI system, what is polled, when it last
succeeded, and whether the API is up, paused or down. Never a credential."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.routing.config import RoutingConfig
from app.store import Store, StoreUnavailable
from app.store.polls import PollTarget, SourceHealth


async def poll_status(store: Store, config: RoutingConfig, now: float) -> dict[str, Any]:
    if not config.polls:
        return {}
    keys = [t.key for spec in config.polls.values() for t in spec.targets()]
    try:
        rows, health = await store.read(
            lambda tx: (
                {r.target: r for r in tx.poll_targets(keys)},
                {h.source: h for h in tx.sources_health()},
            )
        )
    except StoreUnavailable:
        return {"error": "store unavailable: poll state not read"}
    status = {}
    for source, spec in config.polls.items():
        api = health.get(source, SourceHealth(source))
        targets = []
        for target in spec.targets():
            row = rows.get(target.key)
            targets.append(
                {"target": target.key, "kind": target.kind, "name": target.name} | _target(row, now)
            )
        status[source] = {
            "url": spec.url,
            "authenticated": spec.token_value() is not None,
            "interval_s": spec.interval.total_seconds(),
            "look_back_s": spec.look_back.total_seconds(),
            "api": _health(api, now),
            "targets": targets,
        }
    return status


def _target(row: PollTarget | None, now: float) -> dict[str, Any]:
    if row is None:
        return {"last_success": None, "last_attempt": None, "failures": 0, "last_error": None}
    return {
        "last_success": _when(row.last_success),
        "last_attempt": _when(row.last_attempt),
        "failures": row.failures,
        "last_error": row.last_error,
        "backing_off_until": _when(row.retry_at) if row.retry_at > now else None,
        "polling_now_by": row.owner if row.lease_until > now else None,
    }


def _health(health: SourceHealth, now: float) -> dict[str, Any]:
    state = "up"
    if health.down_since is not None:
        state = "down"
    elif health.paused_until > now:
        state = "paused"
    return {
        "state": state,
        "down_since": _when(health.down_since),
        "paused_until": _when(health.paused_until) if health.paused_until > now else None,
        "pause_reason": health.pause_reason if health.paused_until > now else None,
        "consecutive_failures": health.failures,
        "last_error": health.last_error,
        "rate_limit_remaining": health.rate_remaining,
        "rate_limit_reset": _when(health.rate_reset),
    }


def _when(epoch: float | None) -> str | None:
    return None if not epoch else datetime.fromtimestamp(epoch, UTC).isoformat()
