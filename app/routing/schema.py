"""The pydantic models of routes.yaml (see docs/routing.md); unknown keys are errors.

Channel entries are kept as plain mappings here: each is validated against its type's
own `config_model` from `channels.CHANNEL_TYPES`, so new channel types need no change here.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from functools import cache
from typing import Annotated, Any, Literal, get_args, get_origin

import jinja2
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.durations import Duration
from app.pollers.spec import POLL_SPECS
from app.routing.errors import ConfigValueError
from app.routing.inhibit import InhibitRule
from app.routing.intervals import NamedInterval
from app.routing.matchers import MatcherField
from app.routing.people import MentionSpec, PeopleSpec
from app.sources import generic_key
from app.sources.base import SourceAuth
from app.sources.generic_config import GenericName, GenericSourceConfig
from channels import CHANNEL_TYPES
from channels.templating import compile_template
from channels.wording import Language


def _compiles(source: str) -> str:
    # Compiled at load so a typo is a validation error, not a failed send at 3 a.m.
    try:
        compile_template(source)
    except jinja2.TemplateSyntaxError as exc:
        where = f"template syntax error at template line {exc.lineno}"
        raise ConfigValueError(f"{where}: {exc.message}", where) from None
    return source


TemplateSource = Annotated[str, AfterValidator(_compiles)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Most steps one route escalates in, and receivers per step: far above any real chain.
MAX_ESCALATION_STEPS = 20
MAX_STEP_RECEIVERS = 50


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


class EscalationStep(_Strict):
    """One `escalate:` item: when trouble routed here is neither acknowledged nor resolved
    `after` its first event, it is sent `to` these receivers too."""

    after: Annotated[Duration, AfterValidator(_positive)]
    to: tuple[str, ...] = Field(min_length=1, max_length=MAX_STEP_RECEIVERS)


def _in_order(steps: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
    for earlier, later in itertools.pairwise(steps):
        if later.after <= earlier.after:
            raise ValueError("steps must come in order of `after`, each later than the one before")
    return steps


Escalation = Annotated[
    tuple[EscalationStep, ...],
    Field(max_length=MAX_ESCALATION_STEPS),
    AfterValidator(_in_order),
]


class RouteSpec(_Strict):
    """One `routes:` item. Unset settings (None) are inherited from the parent route."""

    matchers: tuple[MatcherField, ...] = ()
    to: tuple[str, ...] | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: tuple[RouteSpec, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    dedup_window: Duration | None = None
    mute_when: tuple[str, ...] | None = None
    active_when: tuple[str, ...] | None = None
    send_resolved: bool | None = None
    resolve_timeout: Duration | None = None
    template: TemplateSource | None = None
    escalate: Escalation | None = None
    # Who to @ in its messages: `actor`, `label:<name>` (app/routing/people.py).
    mention: tuple[MentionSpec, ...] | None = None


class Defaults(_Strict):
    """Settings every route starts from; Alertmanager's defaults where it has them."""

    group_by: tuple[str, ...] = ()
    group_wait: Duration = timedelta(0)
    group_interval: Duration = timedelta(minutes=5)
    repeat_interval: Duration = timedelta(hours=4)
    dedup_window: Duration = timedelta(minutes=5)
    send_resolved: bool = True
    # A firing alert with no news for this long (and past its own endsAt, if it has one)
    # stops being repeated and is shown as stale.
    resolve_timeout: Duration = timedelta(hours=24)
    # The language of every channel that does not set its own (channels/wording.py).
    language: Language | None = None


class SourcesSpec(_Strict):
    """`sources:`: how each built-in source's posts are authenticated, and each generic
    sender by name (its auth and its mapping, app/sources/generic_config.py)."""

    github: SourceAuth = Field(default_factory=SourceAuth)
    gitlab: SourceAuth = Field(default_factory=SourceAuth)
    jenkins: SourceAuth = Field(default_factory=SourceAuth)
    alertmanager: SourceAuth = Field(default_factory=SourceAuth)
    grafana: SourceAuth = Field(default_factory=SourceAuth)
    generic: dict[GenericName, GenericSourceConfig] = Field(default_factory=dict)

    def by_key(self) -> dict[str, SourceAuth]:
        """Each source's entry by the name a post is sent to: `github`, `generic/<name>`."""
        builtin = {name: getattr(self, name) for name in type(self).model_fields}
        del builtin["generic"]
        return {**builtin, **{generic_key(n): c for n, c in self.generic.items()}}


class RoutesFile(_Strict):
    """The whole file."""

    sources: SourcesSpec = Field(default_factory=SourcesSpec)
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    time_intervals: tuple[NamedInterval, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    fallback: tuple[str, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    people: PeopleSpec = Field(default_factory=dict)


@cache
def schema_words() -> frozenset[str]:
    """Every key and literal value the file's models (channels' and polls' included) define.

    A public error may name these (they are ours, not the file's); any other key in its
    location is shown as `*`.
    """
    words: set[str] = set()
    pending: list[Any] = [
        RoutesFile,
        *(t.config_model for t in CHANNEL_TYPES.values()),
        *POLL_SPECS.values(),
    ]
    seen: set[int] = set()
    while pending:
        kind = pending.pop()
        if id(kind) in seen:
            continue
        seen.add(id(kind))
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            for name, info in kind.model_fields.items():
                words.update(w for w in (name, info.alias) if w)
                pending.append(info.annotation)
        elif get_origin(kind) is Literal:
            words.update(a for a in get_args(kind) if isinstance(a, str))
        else:
            pending.extend(get_args(kind))
    return frozenset(words)
