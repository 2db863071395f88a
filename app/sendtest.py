"""One test message through one configured channel, for `signalbox send-test`."""

from __future__ import annotations

from app.routing.config import RoutingConfig
from app.samples import send_test_event
from channels import CHANNEL_TYPES
from channels.base import DeliveryError, Notification, TransientError


class SendTestFailed(Exception):
    """The channel could not be used or the provider refused; the text says why."""


async def send_test(config: RoutingConfig, name: str) -> list[str]:
    """Send one message through channel `name`; the provider's answer per message sent."""
    channel_config = config.channels.get(name)
    if channel_config is None:
        known = ", ".join(sorted(config.channels)) or "none"
        raise SendTestFailed(f"no channel named {name!r} (channels: {known})")
    if not channel_config.enabled():
        raise SendTestFailed(f"channel {name!r} is disabled: its URL or key resolved empty")
    channel = CHANNEL_TYPES[channel_config.type](name, channel_config)  # type: ignore[call-arg]
    notification = Notification(
        receiver=name, route="send-test", group_key="send-test", events=[send_test_event()]
    )
    answers = []
    try:
        for message in await channel.render(notification):
            answers.append((await channel.send(message)).detail)
    except DeliveryError as exc:
        kind = "transient" if isinstance(exc, TransientError) else "permanent"
        raise SendTestFailed(f"{kind} failure: {exc.detail}") from exc
    finally:
        await channel.aclose()
    return answers
