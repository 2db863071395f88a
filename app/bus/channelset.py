"""The live channel instances for one config version.

A reload builds a new set but keeps the instance of every channel whose settings did
not change, so its pooled connections and any send in flight are not disturbed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from channels import CHANNEL_TYPES
from channels.base import Channel, ChannelConfig


@dataclass(frozen=True)
class LiveChannel:
    name: str
    config: ChannelConfig
    channel: Channel

    @property
    def type_name(self) -> str:
        return self.config.type

    @property
    def rate(self) -> tuple[int, float]:
        """(messages, per seconds) this receiver may send."""
        return self.config.rate()


class ChannelSet:
    def __init__(self, live: Mapping[str, LiveChannel] | None = None) -> None:
        self._live: dict[str, LiveChannel] = dict(live or {})

    def get(self, name: str) -> LiveChannel | None:
        return self._live.get(name)

    def names(self) -> list[str]:
        return list(self._live)

    def rebuilt(self, configs: Mapping[str, ChannelConfig]) -> tuple[ChannelSet, list[LiveChannel]]:
        """The set for new settings, and the channels it no longer uses."""
        live: dict[str, LiveChannel] = {}
        for name, config in configs.items():
            old = self._live.get(name)
            if old is not None and old.config == config:
                live[name] = old
            else:
                cls = CHANNEL_TYPES[config.type]
                live[name] = LiveChannel(name, config, cls(name, config))  # type: ignore[call-arg]
        kept = {id(lc.channel) for lc in live.values()}
        retired = [lc for lc in self._live.values() if id(lc.channel) not in kept]
        return ChannelSet(live), retired

    async def aclose(self) -> None:
        for lc in self._live.values():
            await lc.channel.aclose()
