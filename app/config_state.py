"""What GET /api/config and the console's config page say about the config in force."""

from __future__ import annotations

from typing import Any

from app.context import AppContext
from app.routing.config import RoutingConfig
from app.sources import source_keys
from app.sources.base import SourceAuth


def config_state(ctx: AppContext) -> dict[str, Any]:
    """File, hash, load time, last reload error, channels, open sources: never a secret."""
    return {
        **ctx.config.status(),
        "unauthenticated_sources": unauthenticated_sources(ctx.config.current),
    }


def unauthenticated_sources(config: RoutingConfig) -> list[str]:
    """Sources that accept posts from anyone: no secret, token or signature configured
    (generic ones as generic/<name>)."""
    return [
        key
        for key in source_keys(config.sources)
        if not config.sources.get(key, SourceAuth()).configured()
    ]
