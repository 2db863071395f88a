"""Every channel type in CHANNEL_TYPES meets the same contract against its fake provider."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest

import channels
from channels import CHANNEL_TYPES
from channels.base import (
    DeliveryError,
    Message,
    Notification,
    PermanentError,
    TooLarge,
    TransientError,
)
from providers.harness import Harness, conformance_types, harness_for, make_channel
from providers.hostile import (
    READABLE,
    hostile_notification,
    live_markup,
    readable,
    received_markup,
)
from providers.sample import big_notification, giant_notifications, notification, pipeline_event
from providers.server import FakeProvider

DOCS = Path(__file__).resolve().parents[1] / "docs" / "channels.md"


@pytest.fixture(params=list(conformance_types()))
def harness(
    request: pytest.FixtureRequest,
    _fake_http_servers: dict[str, FakeProvider],
    tmp_path: Path,
) -> Iterator[Harness]:
    for provider in _fake_http_servers.values():
        provider.reset()
    with ExitStack() as stack:
        yield harness_for(request.param, _fake_http_servers, stack, tmp_path)


def test_registry_lists_every_channel_module_and_docs_describe_each() -> None:
    """Each module defining a channel class is in CHANNEL_TYPES and has a docs section."""
    defined: dict[str, type[object]] = {}
    for info in pkgutil.iter_modules(channels.__path__):
        module = importlib.import_module(f"channels.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            concrete = "type_name" in vars(cls) and hasattr(cls, "send")
            if cls.__module__ == module.__name__ and concrete:
                defined[vars(cls)["type_name"]] = cls
    assert defined == CHANNEL_TYPES
    docs = DOCS.read_text(encoding="utf-8")
    for type_name in CHANNEL_TYPES:
        assert f"## `{type_name}`" in docs


async def _send_one(harness: Harness, limit: float = 2.0, bad_credential: bool = False) -> None:
    channel = harness.channel(limit, bad_credential=bad_credential)
    try:
        await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    finally:
        await channel.aclose()


async def test_success_is_a_delivery(harness: Harness) -> None:
    """A healthy provider accepts one rendered message."""
    await _send_one(harness)
    assert len(harness.bodies()) == 1


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [("rate_limit", TransientError), ("server_error", TransientError)],
)
async def test_retry_classification(
    harness: Harness, behaviour: str, expected: type[DeliveryError]
) -> None:
    """Rate limits and provider-side failures are transient, carrying the provider's wait."""
    harness.force(behaviour)
    with pytest.raises(expected) as info:
        await _send_one(harness)
    if behaviour == "rate_limit":
        assert info.value.retry_after == harness.rate_limit_wait


async def test_bad_credential_is_permanent(harness: Harness) -> None:
    """A wrong key, token, secret or password is not worth retrying."""
    with pytest.raises(PermanentError):
        await _send_one(harness, bad_credential=True)


async def test_no_secret_in_any_error(harness: Harness) -> None:
    """No error text, repr or cause names a URL token, signing secret or password."""
    errors: list[BaseException] = []
    for behaviour in ("server_error", "rate_limit"):
        harness.force(behaviour)
        with pytest.raises(DeliveryError) as info:
            await _send_one(harness)
        errors.append(info.value)
    with pytest.raises(DeliveryError) as bad:
        await _send_one(harness, bad_credential=True)
    errors.append(bad.value)
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            for secret in harness.secrets():
                assert secret not in f"{chain} {chain!r}"
            chain = chain.__cause__


# Settings aiming each HTTP channel type at a closed port, its credential in them.
_CLOSED = "http://127.0.0.1:9/robot/send?access_token=tok3nS3cretValue9&key=tok3nS3cretValue9"
UNREACHABLE: dict[str, dict[str, object]] = {
    **{t: {"url": _CLOSED} for t in ("slack", "dingtalk", "wecom", "webhook", "feishu", "teams")},
    "telegram": {"api_url": "http://127.0.0.1:9", "token": "tok3nS3cretValue9", "chat_id": "1"},
    "pagerduty": {"url": _CLOSED, "routing_key": "tok3nS3cretValue9" + "0" * 15},
}


async def test_unreachable_provider_is_transient_and_redacted() -> None:
    """A closed port is transient, says it could not connect (not that it timed out), and
    does not echo the URL's token."""
    assert set(UNREACHABLE) == set(conformance_types()) - {"email"}
    for type_name, config in UNREACHABLE.items():
        channel = make_channel(type_name, {**config, "timeout": 1})
        with pytest.raises(TransientError) as info:
            await channel.send((await channel.render(notification(pipeline_event(1))))[0])
        await channel.aclose()
        assert "tok3nS3cretValue9" not in str(info.value)
        assert "connect" in info.value.detail.lower() and "timed out" not in info.value.detail


async def test_timeout_is_honoured(harness: Harness) -> None:
    """A provider that never answers costs at most the channel's timeout, then is transient."""
    harness.force("hang")
    started = time.monotonic()
    with pytest.raises(TransientError):
        await _send_one(harness, limit=0.3)
    assert time.monotonic() - started < 1.5


async def test_rendered_messages_fit_the_provider(harness: Harness) -> None:
    """A group far over the provider's limit is sent as parts the provider accepts whole."""
    if not (harness.proactive_limit or harness.limit_config):
        pytest.skip("no size limit to fit: SMTP relays announce theirs (SIZE) per server")
    channel = harness.channel(told_limit=True)
    group = big_notification(count=30, summary_chars=200)
    for message in await channel.render(group):
        await channel.send(message)
    await channel.aclose()
    received = "".join(harness.bodies())
    assert all(f"api-{i}:9090" in received for i in range(30))


async def test_too_large_answer_leads_to_parts_that_fit(harness: Harness) -> None:
    """After the provider refuses a size, split_for_retry parts are accepted and lose no event."""
    if harness.type_name == "email":
        pytest.skip("SMTP size refusals (552) are permanent; mail is not split")
    if harness.type_name == "pagerduty":
        pytest.skip("one event per request, never over PagerDuty's 512 KB: nothing to split")
    harness.unthrottle()
    channel = harness.channel()
    [message] = await channel.render(big_notification(count=150, summary_chars=400), budget=10**7)
    pending: list[Message] = [message]
    refused = 0
    while pending:
        part = pending.pop(0)
        try:
            await channel.send(part)
        except TooLarge:
            refused += 1
            pending[:0] = await channel.split_for_retry(part)
    await channel.aclose()
    assert refused >= 1
    accepted = "".join(harness.bodies())
    assert all(f"api-{i}:9090" in accepted for i in range(150))


# An ops template as routes.yaml carries it: values and a link printed with no filter.
OPS_TEMPLATE = (
    "{{ title }}\n{% for e in events %}{{ e.state }} {{ e.url | link(e.title) }}\n"
    "{{ e.labels.branch }} {{ e.labels.instance }} {{ e.summary }}\n{% endfor %}"
)


async def _send_all(harness: Harness, group: Notification) -> None:
    """Render `group` with the harness's channel (told the provider's limit) and send it all."""
    harness.unthrottle()
    channel = harness.channel(5.0, told_limit=True)
    try:
        for message in await channel.render(group):
            await channel.send(message)
    finally:
        await channel.aclose()


@pytest.mark.parametrize("template", [None, "ops"])
async def test_hostile_values_arrive_inert_and_readable(
    harness: Harness, template: str | None
) -> None:
    """No mention, link, tag or formatting from a payload is live in what the provider
    received, through the default template and through an ops template; the words stay."""
    source = OPS_TEMPLATE if template else None
    await _send_all(harness, replace(hostile_notification(), template=source))
    fields = received_markup(harness.type_name, harness.received())
    assert fields
    for markup, text in fields:
        assert live_markup(markup, text) == [], (markup, text)
    shown = "\n".join(readable(m, t) for m, t in fields)
    for words in READABLE:
        assert words in shown, words
    assert "\u202e" not in shown and "\x1b" not in shown


async def test_giant_values_fit_every_part_of_the_message(harness: Harness) -> None:
    """A 60,000-character branch and title, a 1 MB annotation and 100,000-character labels
    still make messages the provider accepts, with every part of them within its limit."""
    for group in giant_notifications():
        await _send_all(harness, group)
    received = harness.received()
    assert 3 <= len(received) <= 30
    if harness.type_name == "email":
        for mail in received:
            assert len(mail["Subject"]) <= 200
            for part in mail.walk():
                if part.get_content_maintype() == "text":
                    assert len(part.get_content().encode()) <= 1_100_000
        assert max(len(m.as_bytes()) for m in received) < 3_000_000
    elif harness.type_name == "webhook":
        assert all(len(b) <= harness.limit_config["max_body_bytes"] for b in harness.bodies())
        events = [e for body in received for e in body["events"]]
        assert {e["fingerprint"][:10] for e in events} >= {"giant-ci-1", "giant-aler"}
