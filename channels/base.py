"""The contract between the bus and every channel module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from app.events import Event, Labels


class ChannelConfig(BaseModel):
    """Settings of one named channel in routes.yaml; each type extends it."""

    model_config = ConfigDict(extra="forbid")

    type: str
    fallback_channel: str | None = None

    def enabled(self) -> bool:
        """False when a required URL or key resolved empty (e.g. its ${VAR} unset)."""
        return True


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


@dataclass(frozen=True)
class Message:
    """One request's worth of rendered content, ready to send."""

    title: str
    text: str
    # Provider-specific body (JSON-able) when the channel renders one itself.
    body: dict[str, object] | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What the provider answered when it accepted the message."""

    detail: str


class DeliveryError(Exception):
    """Base of the two failures a channel may raise; the text is safe to log."""

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """Worth retrying later: timeouts, 5xx, 429, provider rate-limit codes."""


class PermanentError(DeliveryError):
    """Retrying cannot help: bad key, invalid payload."""


class Channel(Protocol):
    type_name: ClassVar[str]
    config_model: ClassVar[type[ChannelConfig]]

    def render(self, notification: Notification) -> list[Message]:
        """Messages to send, in order, each within the provider's size limit."""

    async def send(self, message: Message) -> DeliveryResult:
        """Send one message; raise TransientError or PermanentError on failure."""

    async def aclose(self) -> None:
        """Release connections."""
