"""Load routes.yaml: read → bound → resolve ${VAR} → validate everything → build the tree →
render every template on sample events.

Every problem is collected (not just the first) with its file and line, because `check`
shows them all and a half-applied config is never acceptable. Whatever a file makes
loading raise, the caller gets ConfigInvalid: no file can take the server down.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from app.events import utcnow
from app.pollers.spec import POLL_SPECS, PollSpec
from app.routing.crossref import cross_reference_errors
from app.routing.errors import ConfigError, ConfigInvalid
from app.routing.inhibit import InhibitRule
from app.routing.intervals import NamedInterval
from app.routing.limits import MAX_FILE_BYTES, count_problems
from app.routing.people import Directory
from app.routing.rendercheck import template_errors
from app.routing.schema import RoutesFile, RouteSpec
from app.routing.schemaerrors import located, pydantic_errors
from app.routing.tree import FALLBACK_PATH, Route, RouteSettings, RoutingDecision, decide
from app.routing.yamlsource import YamlDocument, read_yaml
from app.sources.base import SourceAuth
from channels import CHANNEL_TYPES
from channels.base import ChannelConfig
from channels.templating import compile_template

__all__ = ["ConfigInvalid", "RoutingConfig", "load_config", "parse_config"]


@dataclass(frozen=True, eq=False)
class RoutingConfig:
    """One loaded, validated version of routes.yaml. Immutable: route each event with one."""

    path: str
    hash: str
    loaded_at: datetime
    tree: Route
    sources: Mapping[str, SourceAuth] = field(default_factory=dict)
    # The CI systems whose APIs are polled, by source (app/pollers/).
    polls: Mapping[str, PollSpec] = field(default_factory=dict)
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)
    time_intervals: Mapping[str, NamedInterval] = field(default_factory=dict)
    inhibit_rules: tuple[InhibitRule, ...] = ()
    warnings: tuple[str, ...] = ()
    # `people:`: whom a route's `mention:` finds in events.
    people: Directory = field(default_factory=Directory)

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


def _invalid(file: str, line: int | None, message: str, public: str | None = None) -> ConfigInvalid:
    return ConfigInvalid([ConfigError(file, line, message, message if public is None else public)])


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> RoutingConfig:
    """Read and validate `path`; raise ConfigInvalid listing every problem."""
    return parse_config(read_config_file(path), str(path), env)


def read_config_file(path: str | Path) -> bytes:
    """The file's bytes, at most MAX_FILE_BYTES + 1 of them; ConfigInvalid if it cannot be
    read or is not a regular file.

    Opened without blocking and checked to be a regular file first: a FIFO would block the
    reload forever, /dev/zero would fill memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise _invalid(str(path), None, "not a regular file")
            return stream.read(MAX_FILE_BYTES + 1)  # one more: parse_config refuses it
    except OSError as exc:
        raise _invalid(str(path), None, f"cannot read: {exc.strerror}") from exc


def parse_config(raw: bytes, file: str, env: Mapping[str, str] | None = None) -> RoutingConfig:
    """Validate the bytes of a routes.yaml; `file` names it in errors.

    Raises ConfigInvalid and nothing else for anything the bytes cause, down to a
    RecursionError in a template compiler or a MemoryError.
    """
    try:
        return _parse(raw, file, os.environ if env is None else env)
    except ConfigInvalid:
        raise
    except Exception as exc:
        # Not a finding of ours but still this file's doing: reject it like any other.
        cause = f"{type(exc).__name__}: {exc}"
        raise _invalid(
            file, None, f"cannot load: {cause}", f"cannot load ({type(exc).__name__})"
        ) from exc


def _parse(raw: bytes, file: str, env: Mapping[str, str]) -> RoutingConfig:
    if len(raw) > MAX_FILE_BYTES:
        raise _invalid(file, None, f"larger than the limit of {MAX_FILE_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(file, None, f"not UTF-8: {exc}", "not UTF-8 text") from None
    doc, errors = read_yaml(text, file, env)
    if doc.data is None and errors:
        raise ConfigInvalid(errors)
    if not isinstance(doc.data, dict):
        raise _invalid(file, 1, "the file must be a mapping (sources:, ...)")
    limits = [located(doc, file, loc, m, m) for loc, m in count_problems(doc.data)]
    if limits:
        raise ConfigInvalid(errors + limits)  # too large to validate: say so and stop
    spec: RoutesFile | None = None
    try:
        spec = RoutesFile.model_validate(doc.data)
    except ValidationError as exc:
        errors.extend(pydantic_errors(exc, doc, file, prefix=()))
    channels = _validate_channels(doc, file, errors)
    polls = _validate_polls(doc, file, errors)
    errors.extend(
        ConfigError(file, doc.line_of(loc), message, public)
        for loc, message, public in cross_reference_errors(doc.data)
    )
    if errors or spec is None:
        raise ConfigInvalid(errors)
    config = _build(spec, channels, polls, file, short_hash(raw))
    rendering = template_errors(config.channels, config.tree, doc, file)
    if rendering:
        raise ConfigInvalid(rendering)
    return config


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
            errors.append(
                ConfigError(file, line, message, f"unknown channel type (known: {known})")
            )
            continue
        try:
            channels[name] = channel_type.config_model.model_validate(entry)
        except ValidationError as exc:
            errors.extend(pydantic_errors(exc, doc, file, prefix=("channels", name)))
    return channels


def _validate_polls(doc: YamlDocument, file: str, errors: list[ConfigError]) -> dict[str, PollSpec]:
    """Each `sources.<ci>.poll` against its CI's settings (app/pollers/spec.py)."""
    raw_sources = doc.data.get("sources")
    polls: dict[str, PollSpec] = {}
    if not isinstance(raw_sources, dict):
        return polls  # RoutesFile reported the shape
    for name, entry in raw_sources.items():
        if name == "generic":
            continue  # senders by name: none has a CI API to poll
        raw = entry.get("poll") if isinstance(entry, dict) else None
        if not isinstance(raw, dict):
            continue  # absent, or a shape RoutesFile reported
        spec = POLL_SPECS.get(name)
        if spec is None:
            known = ", ".join(POLL_SPECS)
            line = doc.line_of(("sources", name, "poll"))
            message = f"source {name!r} cannot be polled (polled: {known})"
            errors.append(ConfigError(file, line, message, f"cannot be polled (polled: {known})"))
            continue
        try:
            polls[name] = spec.model_validate(raw)
        except ValidationError as exc:
            errors.extend(pydantic_errors(exc, doc, file, prefix=("sources", name, "poll")))
    return polls


def _poll_warnings(polls: dict[str, PollSpec]) -> tuple[str, ...]:
    anonymous = sorted(name for name, poll in polls.items() if poll.token_value() is None)
    if not anonymous:
        return ()
    return (
        f"polled without a token (public data only, lowest rate limits): {', '.join(anonymous)}",
    )


def _build(
    spec: RoutesFile,
    channels: dict[str, ChannelConfig],
    polls: dict[str, PollSpec],
    file: str,
    digest: str,
) -> RoutingConfig:
    intervals = {i.name: i for i in spec.time_intervals}
    d = spec.defaults
    if d.language is not None:
        channels = {
            name: cfg if cfg.language else cfg.model_copy(update={"language": d.language})
            for name, cfg in channels.items()
        }
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
    # The root's receivers are `fallback:` (Alertmanager's root receiver): top-level routes
    # without `to` inherit them, like every route inherits its parent's.
    children = _build_routes(spec.routes, root_settings, "", intervals, inherits_fallback=True)
    tree = Route(FALLBACK_PATH, (), root_settings, children=children)
    disabled = sorted(name for name, cfg in channels.items() if not cfg.enabled())
    warnings = (
        (f"channels disabled (URL or key resolved empty): {', '.join(disabled)}",)
        if disabled
        else ()
    ) + _poll_warnings(polls)
    return RoutingConfig(
        path=file,
        hash=digest,
        loaded_at=utcnow(),
        tree=tree,
        # The raw poll blocks stay behind: their settings, secrets typed, are `polls`.
        sources=MappingProxyType(
            {
                key: auth.model_copy(update={"poll": None}) if auth.poll is not None else auth
                for key, auth in spec.sources.by_key().items()
            }
        ),
        polls=MappingProxyType(polls),
        channels=MappingProxyType(channels),
        time_intervals=MappingProxyType(intervals),
        inhibit_rules=spec.inhibit_rules,
        warnings=warnings,
        people=Directory.of(spec.people),
    )


def _build_routes(
    specs: tuple[RouteSpec, ...],
    parent: RouteSettings,
    prefix: str,
    intervals: dict[str, NamedInterval],
    *,
    inherits_fallback: bool,
) -> tuple[Route, ...]:
    routes = []
    for index, spec in enumerate(specs):
        path = f"{prefix}{index}"
        settings = _inherit(parent, spec, intervals)
        from_fallback = inherits_fallback and spec.to is None
        children = _build_routes(
            spec.routes, settings, f"{path}.", intervals, inherits_fallback=from_fallback
        )
        routes.append(Route(path, spec.matchers, settings, spec.continue_, children, from_fallback))
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
    "mention",
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
    if spec.escalate is not None:
        own["escalate"] = tuple((s.after.total_seconds(), s.to) for s in spec.escalate)
    return replace(parent, **own)
