"""Channel adapters: one module per provider, registered here explicitly."""

from channels.base import Channel
from channels.log import LogChannel

CHANNEL_TYPES: dict[str, type[Channel]] = {
    "log": LogChannel,
}
