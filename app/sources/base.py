"""What every source module provides, and the answers it may give instead of events."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import unquote_to_bytes, urlsplit

import re2
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from app.events import Event, Labels, Source, Status


class SourceAuth(BaseModel):
    """One entry of `sources:` in routes.yaml: how a source's posts are authenticated."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = None
    token: SecretStr | None = None
    # Polling the CI's API instead of (or besides) its webhooks: validated per CI by
    # app/pollers/spec.py, as a channel's settings are by its type, and kept out of the
    # config in force (app/routing/config.py hands it over as RoutingConfig.polls).
    poll: dict[str, Any] | None = None

    def configured(self) -> bool:
        return bool(
            (self.secret and self.secret.get_secret_value())
            or (self.token and self.token.get_secret_value())
        )


class Unauthorized(Exception):
    """The post is not from who it claims to be: answered 401."""


class Malformed(Exception):
    """The body is JSON but not of the shape this source sends: answered 400."""


class MalformedJson(Malformed):
    """The body is not JSON at all: answered 400 with where it broke."""


class JsonDocument(str):
    """A webhook body's JSON text, not decoded yet.

    Payload models validate it straight from the text: pydantic builds only the fields a
    model declares, where json.loads would first build every object of the body (a GitHub
    workflow_run is 20 kB of them, a third of its request's time).
    """


def decoded(payload: Any) -> Any:
    """`payload` as Python values: a JsonDocument is decoded, anything else is already.

    An integer too long for Python to read (over 4,300 digits) becomes ±infinity, which
    every numeric field refuses by name and every other field ignores.
    """
    if not isinstance(payload, JsonDocument):
        return payload
    try:
        try:
            return json.loads(payload)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise
            # int()'s digit limit (CVE-2020-10735), raised from inside the decoder.
            return json.loads(payload, parse_int=_unbounded_int)
    except json.JSONDecodeError as exc:
        raise MalformedJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise MalformedJson("nested too deeply") from exc


def _unbounded_int(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return -math.inf if text.startswith("-") else math.inf


class Ignored(Exception):
    """A well-formed post we deliberately do nothing with: answered 200 ignored."""


def constant_time_equal(given: str | None, expected: str) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def authorization_tokens(headers: Mapping[str, str]) -> list[bytes]:
    """What an `Authorization` header offers as the source's token.

    `Bearer <token>`; or `Basic base64(user:password)` with any user name, the password
    as sent and percent-decoded: the Jenkins Notification plugin sends a URL's user-info
    (`http://user:TOKEN@host/...`) as Basic without decoding its %-escapes (Protocol.java,
    https://github.com/jenkinsci/notification-plugin), Alertmanager's `basic_auth` sends it
    as configured. Raises Unauthorized for a Basic value that is not base64 of user:password.
    """
    value = headers.get("authorization")
    if value is None:
        return []
    scheme, _, credentials = value.strip().partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "bearer":
        return [credentials.encode()]
    if scheme != "basic":
        return []
    try:
        pair = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("Authorization: Basic is not base64") from None
    _user, colon, password = pair.partition(b":")
    if not colon:
        raise Unauthorized("Authorization: Basic holds no user:password pair")
    return [password, unquote_to_bytes(password)]


def require_authorization(headers: Mapping[str, str], auth: SourceAuth) -> None:
    """Raise Unauthorized unless `Authorization` (Bearer, or Basic with the token as the
    password) carries the configured token; accept everything when none is configured."""
    expected = configured_secret(auth)
    if expected is None:
        return
    offered = authorization_tokens(headers)
    if not offered:
        raise Unauthorized("missing Authorization: Bearer <token> or Basic user:<token>")
    # Every candidate is compared, so the time taken does not say which form came close.
    matches = [hmac.compare_digest(given, expected.encode()) for given in offered]
    if not any(matches):
        raise Unauthorized("wrong token in Authorization")


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
        """Turn a JSON body (a JsonDocument, or decoded) into events.

        Raises Ignored, Malformed, or MalformedJson when a JsonDocument is not JSON.
        """


# --- helpers shared by the source modules -------------------------------------------------


class Payload(BaseModel):
    """Base of the payload shapes: senders add fields freely, so unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


NonEmpty = Annotated[str, Field(min_length=1)]
"""A string a label is built from, which must not be empty."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _int64(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise PydanticCustomError("int64", "beyond the signed 64-bit range Signalbox keeps")
    return value


Int64 = Annotated[int, AfterValidator(_int64)]
"""Every integer a payload model reads: what SQLite's INTEGER (run_order) and orjson (the
webhook channel's body) can hold. A larger one is a 400 naming the field, never a 500 or
an event that cannot be stored or sent."""

DurationSeconds = Annotated[float, Field(ge=0, le=10**9, allow_inf_nan=False)]
"""A run's duration: finite (1e400 parses as infinity), not negative, under ~31 years
(Jenkins' millisecond durations have the same bound)."""

PayloadT = TypeVar("PayloadT", bound=BaseModel)


def load(model: type[PayloadT], payload: Any, shape: str) -> PayloadT:
    """Validate `payload` as `model`, or raise Malformed naming the first offending field.

    A JsonDocument that is not JSON raises MalformedJson with where it broke.
    """
    try:
        if isinstance(payload, JsonDocument):
            return model.model_validate_json(payload)
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            if "number out of range" in first["msg"]:
                # Over 4,300 digits: the JSON parser gives up without naming the field; the
                # standard library's, as decoded() runs it, lets validation name it.
                return load(model, decoded(payload), shape)
            raise MalformedJson(first["msg"].removeprefix("Invalid JSON: ")) from exc
        where = ".".join(str(part) for part in first["loc"]) or "body"
        what = "expected a JSON object" if first["type"] in _OBJECT_ERRORS else first["msg"]
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise Malformed(f"not a {shape}: {where}: {what}{more}") from exc


_OBJECT_ERRORS = frozenset({"model_type", "model_attributes_type", "dict_type"})
# Senders write ISO 8601 with a space before the offset ("... +0200") or a " UTC" suffix
# (GitLab), which datetime.fromisoformat does not take as is. RE2, not `re`: searched with
# backtracking, `\s+…$` is quadratic in a run of spaces (20,000 took 5 s).
_SPACED_OFFSET = re2.compile(r"\s+(UTC|Z|[+-]\d{2}:?\d{2})$")


def _timestamp(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected a timestamp string")
    try:
        # Most senders write what fromisoformat reads as is; the rewrite is for the rest.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        text = _SPACED_OFFSET.sub(
            lambda m: "+00:00" if m[1] in ("UTC", "Z") else m[1], value.strip()
        )
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Go's zero time (0001-01-01T00:00:00Z) is how Alertmanager says "not set".
    return None if parsed.year == 1 else parsed


Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp)]
"""An optional ISO 8601 / GitLab-style timestamp, always timezone-aware; Go's zero time is None."""


def span_seconds(started: datetime | None, finished: datetime | None) -> float | None:
    if started is None or finished is None or finished < started:
        return None
    return (finished - started).total_seconds()


def map_status(table: Mapping[str, Status], value: str | None, field: str) -> Status:
    """Look a sender's status word up, or raise Malformed naming the field and the known words."""
    if not value:
        raise Malformed(f"{field} is missing")
    status = table.get(value)
    if status is None:
        raise Malformed(f"unknown {field} {value[:60]!r}; known: {', '.join(table)}")
    return status


_BRANCH_PREFIXES = ("refs/remotes/origin/", "refs/heads/", "origin/")


def branch_name(ref: str | None) -> str | None:
    """`refs/heads/main`, `origin/main` → `main`; other refs (tags, pull refs) unchanged."""
    if not ref:
        return None
    for prefix in _BRANCH_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def url_path(url: str | None) -> str:
    """The path of `url` without surrounding slashes; "" for anything unparsable."""
    if not url:
        return ""
    try:
        return urlsplit(url).path.strip("/")
    except ValueError:
        return ""


def http_url(value: object) -> str | None:
    """`value` when it is an absolute http(s) URL, else None: only those are kept as links
    (a `javascript:` or relative URL from a payload is dropped, not shown as a link)."""
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        return None
    try:
        return value if urlsplit(value).netloc else None
    except ValueError:
        return None


class CommitAuthor(Payload):
    email: str | None = None


class Commit(Payload):
    """A commit as GitHub's head_commit and GitLab's pipeline `commit` give it."""

    author: CommitAuthor | None = None

    def author_email(self) -> str | None:
        """The author's address, for `people:` to find them by; not one when redacted."""
        email = self.author.email if self.author else None
        return email if email and "@" in email else None


def extend_labels(labels: Labels, **extra: object) -> Labels:
    """Add source-specific labels as strings, skipping empty values; never overrides `labels`."""
    for name, value in extra.items():
        if value is None or value == "" or name in labels:
            continue
        labels[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return labels


STATUS_WORDS: dict[str, str] = {
    "queued": "queued",
    "running": "running",
    "success": "succeeded",
    "failure": "failed",
    "unstable": "unstable",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "firing": "firing",
    "resolved": "resolved",
}


def ci_event(
    labels: Labels,
    *,
    run: str,
    run_order: int | None = None,
    tracked: bool = True,
    number: int | str | None = None,
    subject: str | None = None,
    url: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    duration_s: float | None = None,
    annotations: Mapping[str, str | None] | None = None,
) -> Event:
    """An Event for a CI pipeline, job or deployment, with the title and fingerprint built alike.

    `run` names the run (or deployment) reported; the fingerprint is
    `source:project:pipeline:run:status`. It is also the event's `run_id` unless `tracked` is
    false (deployments). `subject` replaces the pipeline name in the title, e.g.
    "deployment to production".
    """
    project, pipeline = labels["project"], labels["pipeline"]
    name = subject or pipeline
    title = project if name == project else f"{project} · {name}"
    if job := labels.get("job"):
        title += f" · {job}"
    if number is not None:
        title += f" #{number}"
    title += f" {STATUS_WORDS[labels['status']]}"
    if branch := labels.get("branch"):
        title += f" on {branch}"
    return Event(
        fingerprint=f"{labels['source']}:{project}:{pipeline}:{run}:{labels['status']}",
        title=title,
        url=url or None,
        labels=labels,
        annotations={k: v for k, v in (annotations or {}).items() if v},
        started_at=started_at,
        finished_at=finished_at,
        duration_s=duration_s if duration_s is not None else span_seconds(started_at, finished_at),
        run_id=run if tracked else None,
        run_order=run_order,
    )


def configured_secret(auth: SourceAuth) -> str | None:
    """The configured secret or token (either key is accepted, so a typo never opens the door)."""
    for value in (auth.secret, auth.token):
        if value is not None and value.get_secret_value():
            return value.get_secret_value()
    return None


def require_token(given: str | None, auth: SourceAuth, what: str) -> None:
    """Raise Unauthorized unless `given` equals the configured token (accept all if none is)."""
    expected = configured_secret(auth)
    if expected is None:
        return
    if given is None:
        raise Unauthorized(f"missing {what}")
    if not constant_time_equal(given, expected):
        raise Unauthorized(f"wrong {what}")
