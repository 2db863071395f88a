"""Label matchers in Alertmanager's syntax, plus numeric comparisons.

`name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"` exactly as Alertmanager
(RE2 regexes anchored at both ends, a missing label equals ""), and `name>N`, `name>=N`,
`name<N`, `name<=N` comparing the label as a number (a non-numeric value never matches).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import PlainValidator, WrapSerializer

from app.routing.errors import ConfigValueError
from app.routing.regex import Regex, RegexError

Op = Literal["=", "!=", "=~", "!~", ">", ">=", "<", "<="]
# Longest first so `=~` is not read as `=` followed by a value starting with `~`.
_OPS: tuple[Op, ...] = ("=~", "!~", "!=", ">=", "<=", "=", ">", "<")
# Python's `re` below runs on matcher text (config) and, for _NUMBER, on label values:
# neither pattern nests quantifiers, so each is linear in its input.
_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.:-]*)\s*")
# Strict decimal numbers: float() would also take "nan", "inf", "1_000" and spaces.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NO_NAME = "expected a label name first"
_NO_OP = "expected one of = != =~ !~ > >= < <="
_UNTERMINATED = "unterminated quoted value"
_TRAILING = "unexpected text after the quoted value"
_COMPARE = {
    ">": float.__gt__,
    ">=": float.__ge__,
    "<": float.__lt__,
    "<=": float.__le__,
}


class MatcherError(ConfigValueError):
    """A matcher that cannot be parsed or whose regex RE2 refuses.

    The text quotes the matcher; `public` says what is wrong without it (errors.py).
    """


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


@dataclass(frozen=True, slots=True)
class Matcher:
    """One compiled condition on one label; build with parse_matcher()."""

    name: str
    op: Op
    value: str
    _regex: Regex | None = field(default=None, repr=False, compare=False)
    _number: float | None = field(default=None, repr=False, compare=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        op = self.op
        if op == "=":
            return actual == self.value
        if op == "!=":
            return actual != self.value
        if self._regex is not None:
            return self._regex.fullmatch(actual) == (op == "=~")
        number = _number(actual)
        if number is None or self._number is None:
            return False
        return _COMPARE[op](number, self._number)

    def __str__(self) -> str:
        if self._number is not None:
            return f"{self.name}{self.op}{self.value}"
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(text: str) -> str:
    """Alertmanager's unescaping: \\\\, \\" and \\n; any other backslash stays literal.

    Keeping spurious backslashes is what lets `"v1\\.2"` reach the regex as `v1\\.2`.
    """
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        out.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
    return "".join(out)


def _closing_quote(text: str) -> int:
    """Index of the quote closing a string that starts at text[0], or -1."""
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    return -1


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `status=~"failure|unstable"` or `failure_streak>=2`."""
    name_match = _NAME.match(text)
    if name_match is None:
        raise MatcherError(f"matcher {text!r}: {_NO_NAME}", f"invalid matcher: {_NO_NAME}")
    name, rest = name_match.group(1), text[name_match.end() :]
    op = next((candidate for candidate in _OPS if rest.startswith(candidate)), None)
    if op is None:
        raise MatcherError(
            f"matcher {text!r}: {_NO_OP} after {name!r}", f"invalid matcher: {_NO_OP}"
        )
    raw = rest[len(op) :].strip()
    if raw.startswith('"'):
        end = _closing_quote(raw)
        if end < 0:
            raise MatcherError(
                f"matcher {text!r}: {_UNTERMINATED}", f"invalid matcher: {_UNTERMINATED}"
            )
        if raw[end + 1 :].strip():
            raise MatcherError(f"matcher {text!r}: {_TRAILING}", f"invalid matcher: {_TRAILING}")
        value = _unquote(raw[1:end])
    else:
        value = raw
    return compile_matcher(name, op, value, text)


def compile_matcher(name: str, op: Op, value: str, text: str | None = None) -> Matcher:
    """Build a matcher from parts, compiling its regex or number once."""
    shown = text if text is not None else f"{name}{op}{value}"
    if op in ("=~", "!~"):
        try:
            return Matcher(name, op, value, _regex=Regex(value))
        except RegexError as exc:
            hint = "RE2 syntax, as in Alertmanager: no backreferences or lookaround"
            raise MatcherError(
                f"matcher {shown!r}: invalid regex: {exc} ({hint})",
                f"invalid matcher: invalid regex ({hint})",
            ) from None
    if op in _COMPARE:
        number = _number(value)
        if number is None:
            raise MatcherError(
                f"matcher {shown!r}: {op} needs a number, got {value!r}",
                f"invalid matcher: {op} needs a number",
            )
        return Matcher(name, op, value, _number=number)
    return Matcher(name, op, value)


def first_failure(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> Matcher | None:
    """The first matcher `labels` fail, or None when all match (used to explain misses)."""
    for matcher in matchers:
        if not matcher.matches(labels):
            return matcher
    return None


def _validate(value: object) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        example = "a matcher is a string such as 'status=\"failure\"'"
        raise MatcherError(f"{example}, got {value!r}", example)
    return parse_matcher(value)


# The pydantic field type for one matcher written as a string in routes.yaml.
MatcherField = Annotated[
    Matcher,
    PlainValidator(_validate),
    WrapSerializer(lambda value, _handler: str(value), return_type=str),
]
