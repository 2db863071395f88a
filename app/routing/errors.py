"""Problems in a routes.yaml, each told twice: in full for the file's owner, and in public.

The full form (`str(error)`) may quote the file — channel names, matchers, the YAML that
failed — and goes where only the file's owner looks: `signalbox check` and the server
log. The public form (`error.public_text()`) gives the same file:line and the kind of
problem in Signalbox's own words, never a byte of the file: it is what `GET /api/config`,
`POST /-/reload` and the console show. The file may be a symlink to anything on the
machine, and the API must not become a way to read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigError:
    """One problem: `message` may quote the file, `public` must not (see the module doc)."""

    file: str
    line: int | None
    message: str
    public: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def public_text(self) -> str:
        return f"{self.where}: {self.public}"


class ConfigInvalid(Exception):
    """The file was rejected; `errors` holds every problem found, in line order."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda e: e.line or 0))
        super().__init__("\n".join(str(e) for e in self.errors))

    def public(self) -> str:
        """Every problem as `file:line: kind`, one a line, quoting nothing from the file."""
        return "\n".join(e.public_text() for e in self.errors)


class ConfigValueError(ValueError):
    """A validator's finding: the text may quote the value, `public` must not."""

    def __init__(self, message: str, public: str) -> None:
        super().__init__(message)
        self.public = public


def public_reason(exc: object, default: str) -> str:
    """The public form a validator gave its exception (a `public` attribute), else `default`.

    Validators raise ValueErrors whose text may quote the value; those that can say what
    is wrong without quoting it carry that as `public` (ConfigValueError, or any
    ValueError with such an attribute: channel settings define their own).
    """
    public = getattr(exc, "public", None)
    return public if isinstance(public, str) else default
