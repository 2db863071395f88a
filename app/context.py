"""What the running service holds: built by create_app's lifespan, shared by every router."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.bus.worker import Bus
from app.live import Broadcaster
from app.routing.config import RoutingConfig
from app.routing.reload import ConfigHolder
from app.settings import Settings
from app.store import Store


@dataclass
class AppContext:
    settings: Settings
    store: Store
    config: ConfigHolder
    bus: Bus
    # Open console feeds; the hooks endpoint publishes to it after each stored event.
    live: Broadcaster = field(default_factory=Broadcaster)
    _channels_for: str | None = field(default=None, init=False)

    def config_in_force(self) -> RoutingConfig:
        """The config to handle one request with; the bus's channels follow it."""
        config = self.config.current
        if self._channels_for != config.hash:
            self._channels_for = config.hash
            self.bus.use_channels(config.channels)
        return config
