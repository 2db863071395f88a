"""Prints each message to stdout: for demos and `make run` without any provider set up."""

from __future__ import annotations

import sys
from typing import ClassVar, Literal

from channels.base import ChannelConfig, DeliveryResult, Message, Notification


class LogConfig(ChannelConfig):
    type: Literal["log"] = "log"


class LogChannel:
    type_name: ClassVar[str] = "log"
    config_model: ClassVar[type[ChannelConfig]] = LogConfig

    def __init__(self, name: str, config: LogConfig) -> None:
        self.name = name
        self.config = config

    def render(self, notification: Notification) -> list[Message]:
        lines = [f"[{e.status}] {e.title}" + (f" {e.url}" if e.url else "") for e in notification.events]
        if notification.folded:
            lines.append(f"… and {notification.folded} more")
        title = f"{notification.receiver}: {len(notification.events)} event(s)"
        return [Message(title=title, text="\n".join(lines))]

    async def send(self, message: Message) -> DeliveryResult:
        sys.stdout.write(f"{message.title}\n{message.text}\n")
        sys.stdout.flush()
        return DeliveryResult(detail="printed")

    async def aclose(self) -> None:
        return None
