"""The contract between the bus and every channel module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.message import EmailMessage
from typing import Annotated, ClassVar, Protocol

import jinja2
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator

from app.durations import Duration
from app.events import Event, Labels
from channels.mentions import Mention
from channels.templating import compile_template
from channels.wording import WORDINGS, Language, Wording


class SettingError(ValueError):
    """A channel setting the client could not use. The text never quotes the value (it
    may be a credential), so it is also the error's public form (app/routing/errors.py)."""

    @property
    def public(self) -> str:
        return str(self)


def _mail_address(value: str, *, empty_ok: bool) -> str:
    """`value` if the e-mail header parser reads it as one address, as `mail()` will."""
    if not value.strip():
        if empty_ok:
            return value  # a `${VAR:-}` left unset: the channel is disabled, not broken
        raise SettingError("an e-mail address is needed here")
    probe = EmailMessage()
    try:
        probe["To"] = value
        header = probe["To"]
        addresses = header.addresses
    except (ValueError, IndexError, HeaderParseError):
        addresses, header = (), None
    if header is None or header.defects or len(addresses) != 1 or not addresses[0].domain:
        raise SettingError(
            'not one e-mail address such as "oncall@example.com" or '
            '"On-call <oncall@example.com>" (a list goes one address per item)'
        )
    return value


# Fields of e-mail channel settings: checked at load as the sending code will read them.
MailAddress = Annotated[str, AfterValidator(lambda v: _mail_address(v, empty_ok=False))]
# A recipient may be an unset `${VAR:-}`: the channel is then disabled (see enabled()).
Recipient = Annotated[str, AfterValidator(lambda v: _mail_address(v, empty_ok=True))]
Port = Annotated[int, Field(ge=1, le=65535)]


class RateLimit(BaseModel):
    """At most `messages` sends in any window of `per` (routes.yaml: {messages: 20, per: 1m})."""

    model_config = ConfigDict(extra="forbid")

    messages: int = Field(ge=1)
    per: Duration


class ChannelConfig(BaseModel):
    """Settings of one named channel in routes.yaml; each type extends it."""

    # The provider's own documented limit, used unless routes.yaml sets `rate_limit`.
    default_rate: ClassVar[tuple[int, float]] = (10, 1.0)
    # What the shipped templates speak unless routes.yaml says (`language:` here or in
    # `defaults:`): Chinese for the robots of Chinese workplaces, English elsewhere.
    default_language: ClassVar[Language] = "en"
    # Sends to this channel at once (for different subjects; one subject is in order).
    # One for chat robots: their per-robot limits are tight, and a burst in parallel
    # would only earn a rate-limit penalty before the first answer arrives.
    default_concurrency: ClassVar[int] = 1

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: str
    fallback_channel: str | None = None
    # Message body template source (Jinja2, sandboxed); None uses the channel's default.
    template: str | None = None
    # Seconds for one whole send (connect + request + answer).
    timeout: float = Field(default=10.0, gt=0)
    rate_limit: RateLimit | None = None
    concurrency: int | None = Field(default=None, ge=1, le=256)
    # None: `defaults: language:` of routes.yaml, else the type's default_language.
    language: Language | None = None

    @field_validator("template")
    @classmethod
    def _template_compiles(cls, source: str | None) -> str | None:
        # Compiling here makes `signalbox check` report a template typo with its line,
        # instead of the first send failing.
        if source is not None:
            try:
                compile_template(source)
            except jinja2.TemplateSyntaxError as exc:
                raise ValueError(f"template line {exc.lineno}: {exc.message}") from exc
        return source

    def enabled(self) -> bool:
        """False when a required URL or key resolved empty (e.g. its ${VAR} unset)."""
        return True

    def wording(self) -> Wording:
        """The words this channel's messages are written in."""
        return WORDINGS[self.language or self.default_language]

    def max_in_flight(self) -> int:
        return self.concurrency or self.default_concurrency

    def rate(self) -> tuple[int, float]:
        """(messages, per seconds) this channel may send."""
        if self.rate_limit is None:
            return self.default_rate
        return self.rate_limit.messages, self.rate_limit.per.total_seconds()


def secret_set(value: SecretStr | None) -> bool:
    """True when a secret field holds a non-blank value."""
    return value is not None and value.get_secret_value().strip() != ""


@dataclass(frozen=True)
class AckLink:
    """How the reader may acknowledge one event's trouble: the signed token (Slack's
    button carries it) and the console page it opens (None without
    SIGNALBOX_EXTERNAL_URL)."""

    token: str
    url: str | None


@dataclass(frozen=True)
class Notification:
    """What the bus asks a channel to tell: one flush of one group for one receiver."""

    receiver: str
    route: str
    group_key: str
    events: Sequence[Event]
    group_labels: Labels = field(default_factory=dict)
    is_fallback: bool = False
    # Events folded into this message by the rate limiter's digest and not listed.
    folded: int = 0
    # Route-level body template source (validated by routing); beats the channel's own.
    template: str | None = None
    # What the message is besides news: "escalated: not acknowledged for 10m",
    # "acknowledged by alice"; shown in the title and the body.
    note: str | None = None
    # event id -> its acknowledgement link, for the events in trouble.
    ack_links: Mapping[str, AckLink] = field(default_factory=dict)
    # People the route's `mention:` names for these events (channels/mentions.py).
    mentions: tuple[Mention, ...] = ()
    # The delivery this is: the same on every retry of it, so a receiver can drop repeats.
    delivery_id: str = ""


@dataclass(frozen=True)
class Message:
    """One request's worth of rendered content, ready to send."""

    title: str
    text: str
    # Provider-specific body (JSON-able) when the channel renders one itself.
    body: dict[str, object] | None = None
    # What this message was rendered from (only the events it lists) and the size
    # budget it was fitted to: what `split_for_retry` needs to render it smaller.
    source: Notification | None = None
    budget: int | None = None
    part: int = 1
    parts: int = 1


@dataclass(frozen=True)
class DeliveryResult:
    """What the provider answered when it accepted the message."""

    detail: str


class DeliveryError(Exception):
    """Base of the two failures a channel may raise; the text is safe to log."""

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        # Seconds the provider asked us to wait before the next attempt, if it said.
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """Worth retrying later: timeouts, 5xx, 429, provider rate-limit codes."""


class PermanentError(DeliveryError):
    """Retrying cannot help: bad key, invalid payload."""


class TooLarge(PermanentError):
    """The provider refused the message's size: retrying `split_for_retry(message)` may help."""


class TemplateFailed(PermanentError):
    """The message could not be rendered: its template raised, looped or grew too large."""


class Channel(Protocol):
    type_name: ClassVar[str]
    config_model: ClassVar[type[ChannelConfig]]

    async def render(self, notification: Notification, budget: int | None = None) -> list[Message]:
        """Messages to send, in order, each within the provider's size limit (or `budget`);
        raises TemplateFailed when the template cannot produce them."""

    def render_blocking(
        self, notification: Notification, budget: int | None = None
    ) -> list[Message]:
        """`render`, waited for in the calling thread (config checks run outside a loop)."""

    async def split_for_retry(self, message: Message) -> list[Message]:
        """Smaller messages telling the same events; raises PermanentError when it cannot."""

    async def send(self, message: Message) -> DeliveryResult:
        """Send one message; raise TransientError or PermanentError on failure."""

    async def aclose(self) -> None:
        """Release connections."""
