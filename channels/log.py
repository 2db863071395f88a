"""Prints each message to stdout: for demos and `make run` without any provider set up."""

from __future__ import annotations

import sys
from typing import ClassVar, Literal

from channels.base import ChannelConfig, DeliveryResult, Message
from channels.rendering import TemplatedChannel


class LogConfig(ChannelConfig):
    default_concurrency: ClassVar[int] = 16

    type: Literal["log"] = "log"


class LogChannel(TemplatedChannel):
    type_name: ClassVar[str] = "log"
    config_model: ClassVar[type[ChannelConfig]] = LogConfig
    template_name: ClassVar[str] = "plain.txt.j2"

    async def send(self, message: Message) -> DeliveryResult:
        sys.stdout.write(f"{message.text}\n")
        sys.stdout.flush()
        return DeliveryResult(detail="printed")

    async def aclose(self) -> None:
        return None
