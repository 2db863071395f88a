"""`${VAR}` and `${VAR:-default}` in routes.yaml values, read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.routing.errors import ConfigValueError

# `$${` escapes a literal `${`; anything else between `${` and `}` is a reference.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME_AND_DEFAULT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class InterpolationError(ConfigValueError):
    """A reference that cannot be resolved; `offset` is where it starts in the value.

    `public` says what is wrong without naming the variable (see app/routing/errors.py).
    """

    def __init__(self, message: str, offset: int, public: str) -> None:
        super().__init__(message, public)
        self.offset = offset


def interpolate(value: str, env: Mapping[str, str]) -> tuple[str, list[InterpolationError]]:
    """Resolve every reference in `value`; return the result and every failure in it.

    Like the shell, `${VAR:-default}` uses the default when VAR is unset or empty, and
    `${VAR}` set to the empty string resolves empty (not an error).
    """
    if "${" not in value:
        return value, []
    errors: list[InterpolationError] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        parsed = _NAME_AND_DEFAULT.fullmatch(match.group(1))
        if parsed is None:
            message = f'bad variable reference "{match.group(0)}"'
            errors.append(InterpolationError(message, match.start(), "bad variable reference"))
            return ""
        name, default = parsed.group(1), parsed.group(2)
        resolved = env.get(name)
        if default is not None:
            return resolved or default
        if resolved is None:
            hint = f"write ${{{name}:-}} to allow it unset"
            message = f'environment variable "{name}" is not set ({hint})'
            public = "environment variable not set"
            errors.append(InterpolationError(message, match.start(), public))
            return ""
        return resolved

    return _REFERENCE.sub(substitute, value), errors
