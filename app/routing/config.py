"""Load routes.yaml: read → resolve ${VAR} → validate everything → build the route tree.

Every problem is collected (not just the first) with its file and line, because `check`
shows them all and a half-applied config is never acceptable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from app.events import utcnow
from app.routing.crossref import cross_reference_errors
from app.routing.inhibit import InhibitRule
from app.routing.intervals import NamedInterval
from app.routing.schema import RoutesFile, RouteSpec
from app.routing.tree import FALLBACK_PATH, Route, RouteSettings, RoutingDecision, decide
from app.routing.yamlsource import ConfigError, Loc, YamlDocument, read_yaml
from app.sources.base import SourceAuth
from channels import CHANNEL_TYPES
from channels.base import ChannelConfig
from channels.templating import compile_template


class ConfigInvalid(Exception):
    """The file was rejected; `errors` holds every problem found, in line order."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True, eq=False)
class RoutingConfig:
    """One loaded, validated version of routes.yaml. Immutable: route each event with one."""

    path: str
    hash: str
    loaded_at: datetime
    tree: Route
    sources: Mapping[str, SourceAuth] = field(default_factory=dict)
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)
    time_intervals: Mapping[str, NamedInterval] = field(default_factory=dict)
    inhibit_rules: tuple[InhibitRule, ...] = ()
    warnings: tuple[str, ...] = ()

    def decide(self, labels: Mapping[str, str]) -> RoutingDecision:
        """Where an event with these labels goes under this version of the config."""
        return decide(self.tree, labels)

    def routes(self) -> list[Route]:
        """Every route in file order (depth-first), without the implicit root."""
        return self.tree.walk()[1:]

    def summary(self) -> dict[str, object]:
        """What GET /api/config shows: identity and shape, never a secret."""
        return {
            "path": self.path,
            "hash": self.hash,
            "loaded_at": self.loaded_at.isoformat(),
            "routes": len(self.routes()),
            "channels": {name: cfg.type for name, cfg in self.channels.items()},
            "fallback": list(self.tree.receivers),
            "warnings": list(self.warnings),
        }


def short_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:12]


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> RoutingConfig:
    """Read and validate `path`; raise ConfigInvalid listing every problem."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigInvalid([ConfigError(str(path), None, f"cannot read: {exc.strerror}")]) from exc
    return parse_config(raw, str(path), env)


def parse_config(raw: bytes, file: str, env: Mapping[str, str] | None = None) -> RoutingConfig:
    """Validate the bytes of a routes.yaml; `file` names it in errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigInvalid([ConfigError(file, None, f"not UTF-8: {exc}")]) from None
    doc, errors = read_yaml(text, file, os.environ if env is None else env)
    if doc.data is None and errors:
        raise ConfigInvalid(errors)
    if not isinstance(doc.data, dict):
        raise ConfigInvalid([ConfigError(file, 1, "the file must be a mapping (sources:, ...)")])
    spec: RoutesFile | None = None
    try:
        spec = RoutesFile.model_validate(doc.data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, doc, file, prefix=()))
    channels = _validate_channels(doc, file, errors)
    errors.extend(
        ConfigError(file, doc.line_of(loc), message)
        for loc, message in cross_reference_errors(doc.data)
    )
    if errors or spec is None:
        raise ConfigInvalid(sorted(errors, key=lambda e: e.line or 0))
    return _build(spec, channels, file, short_hash(raw))


def _validate_channels(
    doc: YamlDocument, file: str, errors: list[ConfigError]
) -> dict[str, ChannelConfig]:
    raw_channels = doc.data.get("channels") or {}
    channels: dict[str, ChannelConfig] = {}
    if not isinstance(raw_channels, dict):
        return channels  # RoutesFile reported the shape
    for name, entry in raw_channels.items():
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type")
        channel_type = CHANNEL_TYPES.get(kind) if isinstance(kind, str) else None
        if channel_type is None:
            known = ", ".join(sorted(CHANNEL_TYPES))
            line = doc.line_of(("channels", name, "type"))
            message = f'unknown channel type {kind!r} for channel "{name}" (known: {known})'
            errors.append(ConfigError(file, line, message))
            continue
        try:
            channels[name] = channel_type.config_model.model_validate(entry)
        except ValidationError as exc:
            errors.extend(_pydantic_errors(exc, doc, file, prefix=("channels", name)))
    return channels


def _pydantic_errors(
    exc: ValidationError, doc: YamlDocument, file: str, prefix: Loc
) -> list[ConfigError]:
    found = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = (*prefix, *error["loc"])
        where = describe_loc(loc[:-1] if error["type"] in ("extra_forbidden", "missing") else loc)
        if error["type"] == "extra_forbidden":
            message = f'unknown key "{loc[-1]}" in {where or "the file"}'
        elif error["type"] == "missing":
            message = f'missing key "{loc[-1]}" in {where or "the file"}'
        else:
            cause = error["msg"].removeprefix("Value error, ")
            message = f"{where}: {cause}" if where else cause
        found.append(ConfigError(file, doc.line_of(loc), message))
    return found


def describe_loc(loc: Loc) -> str:
    """('routes', 2, 'routes', 1, 'to', 0) -> 'route 2.1: to[0]'."""
    parts = [p for p in loc if p != "[key]"]  # pydantic's marker for a bad dict key
    path: list[str] = []
    while len(parts) >= 2 and parts[0] == "routes" and isinstance(parts[1], int):
        path.append(str(parts[1]))
        parts = parts[2:]
    rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    if not path:
        return rest
    head = f"route {'.'.join(path)}"
    return f"{head}: {rest}" if rest else head


def _build(
    spec: RoutesFile, channels: dict[str, ChannelConfig], file: str, digest: str
) -> RoutingConfig:
    intervals = {i.name: i for i in spec.time_intervals}
    d = spec.defaults
    root_settings = RouteSettings(
        receivers=spec.fallback,
        group_by=d.group_by,
        group_wait=d.group_wait,
        group_interval=d.group_interval,
        repeat_interval=d.repeat_interval,
        dedup_window=d.dedup_window,
        send_resolved=d.send_resolved,
        resolve_timeout=d.resolve_timeout,
    )
    # Top-level routes must name their own receivers (checked); they never inherit fallback.
    children = _build_routes(spec.routes, replace(root_settings, receivers=()), "", intervals)
    tree = Route(FALLBACK_PATH, (), root_settings, children=children)
    disabled = sorted(name for name, cfg in channels.items() if not cfg.enabled())
    warnings = (
        (f"channels disabled (URL or key resolved empty): {', '.join(disabled)}",)
        if disabled
        else ()
    )
    return RoutingConfig(
        path=file,
        hash=digest,
        loaded_at=utcnow(),
        tree=tree,
        sources=MappingProxyType({str(k): v for k, v in spec.sources.items()}),
        channels=MappingProxyType(channels),
        time_intervals=MappingProxyType(intervals),
        inhibit_rules=spec.inhibit_rules,
        warnings=warnings,
    )


def _build_routes(
    specs: tuple[RouteSpec, ...],
    parent: RouteSettings,
    prefix: str,
    intervals: dict[str, NamedInterval],
) -> tuple[Route, ...]:
    routes = []
    for index, spec in enumerate(specs):
        path = f"{prefix}{index}"
        settings = _inherit(parent, spec, intervals)
        children = _build_routes(spec.routes, settings, f"{path}.", intervals)
        routes.append(Route(path, spec.matchers, settings, spec.continue_, children))
    return tuple(routes)


# Settings a route takes from its parent unless it sets them itself.
_INHERITED = (
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "dedup_window",
    "send_resolved",
    "resolve_timeout",
)


def _inherit(
    parent: RouteSettings, spec: RouteSpec, intervals: dict[str, NamedInterval]
) -> RouteSettings:
    own: dict[str, Any] = {
        name: getattr(spec, name) for name in _INHERITED if getattr(spec, name) is not None
    }
    if spec.to is not None:
        own["receivers"] = spec.to
    if spec.mute_when is not None:
        own["mute_when"] = tuple(intervals[n] for n in spec.mute_when)
    if spec.active_when is not None:
        own["active_when"] = tuple(intervals[n] for n in spec.active_when)
    if spec.template is not None:
        own["template"] = compile_template(spec.template)
        own["template_source"] = spec.template
    return replace(parent, **own)
