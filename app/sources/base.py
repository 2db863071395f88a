"""What every source module provides, and the answers it may give instead of events."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, SecretStr

from app.events import Event, Source


class SourceAuth(BaseModel):
    """One entry of `sources:` in routes.yaml: how a source's posts are authenticated."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = None
    token: SecretStr | None = None

    def configured(self) -> bool:
        return bool(
            (self.secret and self.secret.get_secret_value())
            or (self.token and self.token.get_secret_value())
        )


class Unauthorized(Exception):
    """The post is not from who it claims to be: answered 401."""


class Malformed(Exception):
    """The body is JSON but not of the shape this source sends: answered 400."""


class Ignored(Exception):
    """A well-formed post we deliberately do nothing with: answered 200 ignored."""


def constant_time_equal(given: str | None, expected: str) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class SourceModule(Protocol):
    """One module per source in app/sources/, registered in app/sources/__init__.py.

    `headers` is a case-insensitive mapping (lower-case keys work).
    """

    name: Source

    def verify(self, headers: Mapping[str, str], body: bytes, auth: SourceAuth) -> None:
        """Raise Unauthorized unless the post carries valid credentials.

        With nothing configured in `auth`, every post is accepted.
        """

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """The sender's id for this delivery, the same on its retries."""

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        """Turn a decoded JSON body into events, or raise Ignored / Malformed."""
