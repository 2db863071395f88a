"""Routing: routes.yaml → validated, immutable config → where each event goes.

The server builds one `ConfigHolder(path)`, runs `holder.watch()` as a task, and for each
event takes `config = holder.current` once and calls `config.decide(event.labels)`.
"""

from app.routing.config import ConfigInvalid, RoutingConfig, load_config, parse_config
from app.routing.inhibit import InhibitRule, inhibition
from app.routing.intervals import NamedInterval, is_active
from app.routing.reload import ConfigHolder, ReloadResult
from app.routing.tree import Route, RouteMatch, RouteSettings, RoutingDecision, decide

__all__ = [
    "ConfigHolder",
    "ConfigInvalid",
    "InhibitRule",
    "NamedInterval",
    "ReloadResult",
    "Route",
    "RouteMatch",
    "RouteSettings",
    "RoutingConfig",
    "RoutingDecision",
    "decide",
    "inhibition",
    "is_active",
    "load_config",
    "parse_config",
]
