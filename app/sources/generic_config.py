"""The settings of one generic source (`sources: generic: <name>:` in routes.yaml): how its
posts are authenticated and how its JSON body becomes events.

Every mapping is a JMESPath expression (https://jmespath.org/specification.html), compiled
and checked when routes.yaml loads, so a typo is an error with its file and line, never a
400 at 3 a.m. JMESPath rather than a Jinja2 template: it reads JSON and gives JSON values
(a number stays a number for a status map), and it has no loops, variables, I/O or
regexes; what it can still multiply is bounded by a work budget (app/sources/jmes.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, SecretStr

from app.events import Status
from app.sources import jmes
from app.sources.base import SourceAuth
from app.sources.jmes import Budget

# Longer expressions are not mappings a person writes; bounded so parsing one is cheap.
MAX_EXPRESSION = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Labels the source sets itself (or the pipeline history computes): a mapping cannot.
RESERVED_LABELS = frozenset({"source", "kind", "status", "generic", "transition", "failure_streak"})
# What an HTTP header name may be (RFC 9110 section 5.1, a token).
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")


class MappingError(ValueError):
    """A setting that cannot work: the text may quote it, `public` must not (the config
    loader shows `public` where anyone may read it)."""

    def __init__(self, message: str, public: str) -> None:
        super().__init__(message)
        self.public = public


@dataclass(frozen=True)
class Expression:
    """A compiled JMESPath expression and the text it was written as."""

    text: str
    compiled: Any = field(compare=False, repr=False)

    def search(self, document: Any, budget: Budget) -> Any:
        """The expression's value on `document`, its work charged to `budget`; raises
        OverBudget, JMESPathError on a type mismatch (e.g. join() over numbers) and
        RecursionError on data nested past the stack."""
        return jmes.search(self.compiled, document, budget)


def _compile(value: object) -> Expression:
    if isinstance(value, Expression):
        return value
    if not isinstance(value, str) or not value.strip():
        raise MappingError(
            "expected a JMESPath expression (a string; a constant is written 'text')",
            "expected a JMESPath expression",
        )
    if len(value) > MAX_EXPRESSION:
        raise MappingError(
            f"JMESPath expression longer than {MAX_EXPRESSION} characters",
            f"JMESPath expression longer than {MAX_EXPRESSION} characters",
        )
    try:
        compiled = jmespath.compile(value)
    except JMESPathError as exc:
        detail = " ".join(str(exc).split()).removeprefix("Invalid jmespath expression: ")
        raise MappingError(
            f"invalid JMESPath expression: {detail}", "invalid JMESPath expression"
        ) from None
    except RecursionError:
        raise MappingError(
            "JMESPath expression nested too deeply", "JMESPath expression nested too deeply"
        ) from None
    _check_functions(compiled.parsed)
    return Expression(value, compiled)


def _check_functions(node: Mapping[str, Any]) -> None:
    """Unknown functions and wrong argument counts, which JMESPath finds only when run."""
    pending = [node]
    while pending:
        current = pending.pop()
        children = [c for c in current.get("children", []) if isinstance(c, dict)]
        pending.extend(children)
        if current.get("type") != "function_expression":
            continue
        name = current["value"]
        spec = Functions.FUNCTION_TABLE.get(name)
        if spec is None:
            known = ", ".join(sorted(Functions.FUNCTION_TABLE))
            raise MappingError(
                f"unknown JMESPath function {name}() (known: {known})",
                "unknown JMESPath function",
            )
        signature = spec["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        given = len(current["children"])
        if given < len(signature) or (given > len(signature) and not variadic):
            wanted = f"{len(signature)} or more" if variadic else str(len(signature))
            raise MappingError(
                f"{name}() takes {wanted} arguments, given {given}",
                "wrong number of arguments to a JMESPath function",
            )


Expr = Annotated[Expression, PlainValidator(_compile)]


def _label_name(value: object) -> str:
    if not isinstance(value, str) or not _LABEL_NAME.match(value):
        raise MappingError(
            f"label name {str(value)[:60]!r} is not letters, digits and _ (not starting "
            "with a digit)",
            "a label name is letters, digits and _ (not starting with a digit)",
        )
    if value in RESERVED_LABELS:
        raise MappingError(
            f"label {value!r} is set by Signalbox, not by a mapping "
            f"(reserved: {', '.join(sorted(RESERVED_LABELS))})",
            "a reserved label name",
        )
    return value


def _header_name(value: object) -> str:
    if not isinstance(value, str) or not _HEADER_NAME.match(value):
        raise MappingError(
            f"{str(value)[:60]!r} is not an HTTP header name", "not an HTTP header name"
        )
    return value


def word(value: bool | int | float | str) -> str:
    """A JSON scalar as a label writes it: true/false, 12, 0.5, text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _words(value: object) -> object:
    # YAML reads `0:` and `true:` as a number and a boolean; the map compares words.
    if isinstance(value, dict):
        return {word(k) if isinstance(k, bool | int | float) else k: v for k, v in value.items()}
    return value


LabelName = Annotated[str, PlainValidator(_label_name)]
AnnotationName = Annotated[str, Field(min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HmacAuth(_Strict):
    """A signature over the raw body in a header: `prefix` + hex (or base64) of
    HMAC(`secret`, body)."""

    secret: SecretStr
    header: Annotated[str, PlainValidator(_header_name)]
    algorithm: Literal["sha256", "sha512"] = "sha256"
    prefix: str = ""
    encoding: Literal["hex", "base64"] = "hex"

    def configured(self) -> bool:
        return bool(self.secret.get_secret_value())


class StatusMapping(_Strict):
    """Where the status comes from: the value's word in `map`, else the value itself when
    it is one of Signalbox's statuses, else `default`."""

    value: Expr
    map: Annotated[dict[str, Status], BeforeValidator(_words)] = Field(default_factory=dict)
    default: Status | None = None


class GenericSourceConfig(SourceAuth):
    """One generic sender: `token` (or `secret`) as Authorization Bearer or Basic password,
    and/or an `hmac` signature; then the mapping from its body to events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hmac: HmacAuth | None = None
    items: Expr | None = None
    kind: Expr
    status: StatusMapping
    labels: dict[LabelName, Expr] = Field(default_factory=dict)
    title: Expr | None = None
    url: Expr | None = None
    fingerprint: Expr | None = None
    started_at: Expr | None = None
    finished_at: Expr | None = None
    run: Expr | None = None
    run_order: Expr | None = None
    annotations: dict[AnnotationName, Expr] = Field(default_factory=dict)

    def configured(self) -> bool:
        return super().configured() or (self.hmac is not None and self.hmac.configured())


def _generic_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise MappingError(
            f"generic source name {str(value)[:70]!r} is not 1-63 letters, digits, ., _ "
            "or - starting with a letter or digit (it is the URL's last segment)",
            "a generic source name is 1-63 letters, digits, ., _ or -",
        )
    return value


GenericName = Annotated[str, PlainValidator(_generic_name)]
"""A generic source's name: its URL segment (/hooks/generic/<name>) and `generic` label."""
