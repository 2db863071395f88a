"""What the running service holds: built by create_app's lifespan, shared by every router."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.accept import Intake
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

    @property
    def intake(self) -> Intake:
        # publish() does nothing while no feed is open.
        return Intake(self.store, self.bus, self.live.publish)

    def config_in_force(self) -> RoutingConfig:
        """The config to handle one request with (the bus gets each one pushed on load)."""
        return self.config.current
