"""One way per channel type to aim a channel at its fake provider and make it misbehave.

The conformance suite (tests/test_channel_conformance.py) runs the same checks over
every harness; a new channel type adds a harness here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from channels import CHANNEL_TYPES
from channels.base import Channel
from providers.dingtalk import FakeDingTalk
from providers.feishu import FakeFeishu
from providers.pagerduty import FakePagerDuty
from providers.server import FakeProvider
from providers.slack import FakeSlack
from providers.smtp import USERS, SmtpServer, silent_server, smtp_server
from providers.teams import FakeTeams
from providers.telegram import FakeTelegram
from providers.webhook import FakeReceiver
from providers.wecom import FakeWeCom

TOKEN = "tok3nS3cretValue9"
SIGN_SECRET = "SECsignSecret0123456789"
# A PagerDuty integration key is 32 characters; this one holds TOKEN.
ROUTING_KEY = TOKEN + "0" * (32 - len(TOKEN))
TELEGRAM_CHAT = "-1001234567890"


def make_channel(type_name: str, config: dict[str, Any]) -> Channel:
    cls = CHANNEL_TYPES[type_name]
    parsed = cls.config_model.model_validate({"type": type_name, **config})
    channel: Channel = cls(f"test-{type_name}", parsed)  # type: ignore[call-arg]
    return channel


@dataclass
class HttpHarness:
    """A channel type backed by one of the fake HTTP providers."""

    type_name: str
    provider: FakeProvider
    url: str
    extra: dict[str, Any] = field(default_factory=dict)
    # Seconds the provider asks to wait when rate limiting (None: it does not say).
    rate_limit_wait: float | None = 7.0
    # Whether the channel fits messages to a documented provider limit by itself.
    proactive_limit: bool = True
    # Settings that tell the channel the provider's limit when it cannot know it.
    limit_config: dict[str, Any] = field(default_factory=dict)
    # The setting `url` goes in, and whether the URL is itself a credential.
    url_key: str = "url"
    url_is_secret: bool = True
    # Settings that make the credential wrong when it is not in the URL.
    bad_extra: dict[str, Any] = field(default_factory=dict)

    def channel(
        self, timeout: float = 2.0, *, bad_credential: bool = False, told_limit: bool = False
    ) -> Channel:
        url = self.url.replace(TOKEN, "wrongTok3nValue42") if bad_credential else self.url
        extra = {**self.extra, **(self.limit_config if told_limit else {})}
        if bad_credential:
            if "secret" in extra:
                extra["secret"] = "SECwrongSecret"
            extra.update(self.bad_extra)
        return make_channel(self.type_name, {self.url_key: url, "timeout": timeout, **extra})

    def force(self, behaviour: str) -> None:
        names = {"rate_limit": "rate_limit", "server_error": "http_500", "hang": "hang"}
        self.provider.force(names[behaviour])

    def secrets(self) -> list[str]:
        return [TOKEN, SIGN_SECRET, *([self.url] if self.url_is_secret else [])]

    def bodies(self) -> list[str]:
        """Every request body received, decoded."""
        return [r.body.decode() for r in self.provider.requests]

    def received(self) -> list[Any]:
        """Every request body received, parsed from JSON."""
        return [orjson.loads(r.body) for r in self.provider.requests]

    def unthrottle(self) -> None:
        self.provider.per_minute = 1_000_000
        self.provider.per_second = 0


@dataclass
class SmtpHarness:
    """The e-mail channel against a real aiosmtpd server."""

    server: SmtpServer
    hang_port: int
    type_name: str = "email"
    rate_limit_wait: float | None = None
    proactive_limit: bool = False
    limit_config: dict[str, Any] = field(default_factory=dict)
    _hang: bool = False

    def channel(
        self, timeout: float = 2.0, *, bad_credential: bool = False, told_limit: bool = False
    ) -> Channel:
        return make_channel(
            "email",
            {
                "host": "127.0.0.1",
                "port": self.hang_port if self._hang else self.server.port,
                "username": "signalbox",
                "password": "wrong-pass" if bad_credential else USERS["signalbox"],
                "from": "signalbox@example.com",
                "to": ["oncall@example.com"],
                "timeout": timeout,
            },
        )

    def force(self, behaviour: str) -> None:
        replies = {
            "rate_limit": "421 4.7.0 too many messages, slow down",
            "server_error": "451 4.3.0 local error in processing",
        }
        if behaviour == "hang":
            self._hang = True
        else:
            self.server.handler.forced_data.append(replies[behaviour])

    def secrets(self) -> list[str]:
        return [USERS["signalbox"]]

    def bodies(self) -> list[str]:
        return [r.message().as_string() for r in self.server.handler.received]

    def received(self) -> list[Any]:
        return [r.message() for r in self.server.handler.received]

    def unthrottle(self) -> None:
        return None


Harness = HttpHarness | SmtpHarness


def harness_for(
    type_name: str, providers: dict[str, FakeProvider], stack: ExitStack, tmp: Path
) -> Harness:
    """Build the harness of `type_name`; servers it starts are stopped by `stack`."""
    if type_name == "email":
        server = stack.enter_context(smtp_server("plain"))
        return SmtpHarness(server=server, hang_port=stack.enter_context(silent_server()))
    provider = providers[type_name]
    base = provider.base_url
    if isinstance(provider, FakeSlack):
        return HttpHarness("slack", provider, base + provider.hook_path(secret=TOKEN))
    if isinstance(provider, FakeDingTalk):
        path = provider.robot(TOKEN, SIGN_SECRET)
        return HttpHarness(
            "dingtalk", provider, base + path, {"secret": SIGN_SECRET}, rate_limit_wait=600.0
        )
    if isinstance(provider, FakeWeCom):
        return HttpHarness("wecom", provider, base + provider.robot(TOKEN), rate_limit_wait=60.0)
    if isinstance(provider, FakeFeishu):
        path = provider.bot(TOKEN, SIGN_SECRET)
        # 11232 names no wait: the bus backs off.
        return HttpHarness(
            "feishu", provider, base + path, {"secret": SIGN_SECRET}, rate_limit_wait=None
        )
    if isinstance(provider, FakeTeams):
        return HttpHarness("teams", provider, base + provider.flow("flow-1", TOKEN))
    if isinstance(provider, FakeTelegram):
        provider.bot(TOKEN, TELEGRAM_CHAT)
        return HttpHarness(
            "telegram",
            provider,
            base,
            {"token": TOKEN, "chat_id": TELEGRAM_CHAT},
            url_key="api_url",
            url_is_secret=False,
            bad_extra={"token": "wrongTok3nValue42"},
        )
    if isinstance(provider, FakePagerDuty):
        provider.keys.add(ROUTING_KEY)
        return HttpHarness(
            "pagerduty",
            provider,
            base + "/v2/enqueue",
            {"routing_key": ROUTING_KEY},
            rate_limit_wait=30.0,
            url_is_secret=False,
            bad_extra={"routing_key": "wrongKey" + "0" * 24},
        )
    assert isinstance(provider, FakeReceiver)
    provider.secret = SIGN_SECRET
    # Our own receivers have limits too, undocumented to the channel: it learns by 413.
    provider.max_body_bytes = 64_000
    return HttpHarness(
        "webhook",
        provider,
        f"{base}/hooks/{TOKEN}",
        {"secret": SIGN_SECRET},
        proactive_limit=False,
        limit_config={"max_body_bytes": provider.max_body_bytes},
    )


def conformance_types() -> Iterator[str]:
    return (name for name in CHANNEL_TYPES if name != "log")
