"""What the running service holds: built by create_app's lifespan, shared by every router."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.accept import Intake
from app.bus.worker import Bus
from app.ingest import Accepted
from app.routing.config import RoutingConfig
from app.routing.reload import ConfigHolder
from app.settings import Settings
from app.store import Store
from app.ui.live import Broadcaster, feed_items


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
        return Intake(self.store, self.bus, self._publish_live)

    def _publish_live(self, accepted: Accepted) -> None:
        if self.live.subscribers():
            # A feed row costs a JSON dump per event: build them only for an open console.
            self.live.publish(feed_items(accepted))

    def config_in_force(self) -> RoutingConfig:
        """The config to handle one request with (the bus gets each one pushed on load)."""
        return self.config.current
