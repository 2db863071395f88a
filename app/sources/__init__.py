"""The sources Signalbox accepts webhooks from, one module each, registered by name; and
the generic sources routes.yaml configures, one per name under `sources: generic:`."""

from __future__ import annotations

from collections.abc import Mapping

from app.sources import alertmanager, github, gitlab, grafana, jenkins
from app.sources.base import SourceAuth, SourceModule
from app.sources.generic import GENERIC, GenericSource
from app.sources.generic_config import GenericSourceConfig

SOURCE_MODULES: dict[str, SourceModule] = {
    "github": github.SOURCE,
    "gitlab": gitlab.SOURCE,
    "jenkins": jenkins.SOURCE,
    "alertmanager": alertmanager.SOURCE,
    "grafana": grafana.SOURCE,
}

GENERIC_PREFIX = f"{GENERIC}/"


def generic_key(name: str) -> str:
    """How a generic source is named in `RoutingConfig.sources`, URLs and route-test."""
    return GENERIC_PREFIX + name


def resolve(key: str, sources: Mapping[str, SourceAuth]) -> tuple[SourceModule, SourceAuth] | None:
    """The module that reads posts to /hooks/`key` and the `sources:` entry it checks them
    with; None when `key` names no source (an unknown generic name included)."""
    module = SOURCE_MODULES.get(key)
    if module is not None:
        return module, sources.get(key, SourceAuth())
    config = sources.get(key) if key.startswith(GENERIC_PREFIX) else None
    if isinstance(config, GenericSourceConfig):
        return GenericSource(key.removeprefix(GENERIC_PREFIX), config), config
    return None


def source_keys(sources: Mapping[str, SourceAuth]) -> list[str]:
    """Every source a post can go to under this config: the built-in ones, then each
    configured generic name as generic/<name>."""
    generic = sorted(k for k, v in sources.items() if isinstance(v, GenericSourceConfig))
    return [*SOURCE_MODULES, *generic]


def source_family(key: str) -> str:
    """The `source` a metric counts a post to `key` under: one of a fixed few, whatever
    the URL said (every generic name counts as generic)."""
    if key in SOURCE_MODULES:
        return key
    return GENERIC if key == GENERIC or key.startswith(GENERIC_PREFIX) else "unknown"
