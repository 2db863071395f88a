"""Validation findings as ConfigErrors: the file's line, route paths, full and public form.

Locations are pydantic-style tuples (`("routes", 2, "routes", 1, "to", 0)`); they read as
`route 2.1: to[0]`. In the public form a key that is not a word of our schema (a channel
name, an unknown key) reads as `*`, so it quotes nothing from the file.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.routing.errors import ConfigError, public_reason
from app.routing.schema import schema_words
from app.routing.yamlsource import Loc, YamlDocument


def located(doc: YamlDocument, file: str, loc: Loc, message: str, public: str) -> ConfigError:
    """An error at `loc`, its location prefixed to both forms."""
    return ConfigError(
        file,
        doc.line_of(loc),
        _at(describe_loc(loc), message),
        _at(describe_loc(loc, public=True), public),
    )


def _at(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


def pydantic_errors(
    exc: ValidationError, doc: YamlDocument, file: str, prefix: Loc
) -> list[ConfigError]:
    """One error per pydantic finding, at the line of the node it is about."""
    found = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = (*prefix, *error["loc"])
        kind = error["type"]
        if kind in ("extra_forbidden", "missing"):
            where = describe_loc(loc[:-1]) or "the file"
            public_where = describe_loc(loc[:-1], public=True) or "the file"
            if kind == "extra_forbidden":
                message = f'unknown key "{loc[-1]}" in {where}'
                public = f"unknown key in {public_where}"
            else:  # a missing key is a field of ours, so it may be named
                message = f'missing key "{loc[-1]}" in {where}'
                public = f'missing key "{loc[-1]}" in {public_where}'
        else:
            message = _at(describe_loc(loc), error["msg"].removeprefix("Value error, "))
            public = _at(describe_loc(loc, public=True), _public_cause(error))
        found.append(ConfigError(file, doc.line_of(loc), message, public))
    return found


# pydantic error types whose message is made from the schema alone (an expected type, a
# bound, the allowed literals), never from the input: safe to show as they are.
_SCHEMA_WORDED = frozenset(
    {
        "bool_parsing",
        "enum",
        "float_parsing",
        "greater_than",
        "greater_than_equal",
        "int_from_float",
        "int_parsing",
        "less_than",
        "less_than_equal",
        "literal_error",
        "string_too_long",
        "string_too_short",
        "too_long",
        "too_short",
    }
)


def _public_cause(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "value_error":
        return public_reason(error.get("ctx", {}).get("error"), "invalid value")
    if kind.endswith("_type") or kind in _SCHEMA_WORDED:
        return error["msg"]
    return "invalid value"


def describe_loc(loc: Loc, *, public: bool = False) -> str:
    """('routes', 2, 'routes', 1, 'to', 0) -> 'route 2.1: to[0]'.

    `public`: keys that are not words of our schema (channel names, unknown keys) are
    shown as `*`, so the text quotes nothing from the file.
    """
    parts = [p for p in loc if p != "[key]"]  # pydantic's marker for a bad dict key
    path: list[str] = []
    while len(parts) >= 2 and parts[0] == "routes" and isinstance(parts[1], int):
        path.append(str(parts[1]))
        parts = parts[2:]
    if public:
        words = schema_words()
        parts = [p if isinstance(p, int) or p in words else "*" for p in parts]
    rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    if not path:
        return rest
    head = f"route {'.'.join(path)}"
    return f"{head}: {rest}" if rest else head
