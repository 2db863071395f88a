"""`${VAR}` and `${VAR:-default}` in routes.yaml values, read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping

# `$${` escapes a literal `${`; anything else between `${` and `}` is a reference.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME_AND_DEFAULT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class InterpolationError(ValueError):
    """A reference that cannot be resolved; `offset` is where it starts in the value."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
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
            errors.append(
                InterpolationError(f'bad variable reference "{match.group(0)}"', match.start())
            )
            return ""
        name, default = parsed.group(1), parsed.group(2)
        resolved = env.get(name)
        if default is not None:
            return resolved or default
        if resolved is None:
            hint = f"write ${{{name}:-}} to allow it unset"
            message = f'environment variable "{name}" is not set ({hint})'
            errors.append(InterpolationError(message, match.start()))
            return ""
        return resolved

    return _REFERENCE.sub(substitute, value), errors
