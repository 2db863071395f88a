"""Every channel type in CHANNEL_TYPES meets the same contract against its fake provider."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

import channels
from channels import CHANNEL_TYPES
from channels.base import DeliveryError, Message, PermanentError, TooLarge, TransientError
from providers.harness import Harness, conformance_types, harness_for, make_channel
from providers.sample import big_notification, notification, pipeline_event
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
        await channel.send(channel.render(notification(pipeline_event(1)))[0])
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


async def test_unreachable_provider_is_transient_and_redacted() -> None:
    """A closed port is transient, and the error does not echo the URL's token."""
    for type_name in ("slack", "dingtalk", "wecom", "webhook"):
        url = "http://127.0.0.1:9/robot/send?access_token=tok3nS3cretValue9&key=tok3nS3cretValue9"
        channel = make_channel(type_name, {"url": url, "timeout": 1})
        with pytest.raises(TransientError) as info:
            await channel.send(channel.render(notification(pipeline_event(1)))[0])
        await channel.aclose()
        assert "tok3nS3cretValue9" not in str(info.value)


async def test_timeout_is_honoured(harness: Harness) -> None:
    """A provider that never answers costs at most the channel's timeout, then is transient."""
    harness.force("hang")
    started = time.monotonic()
    with pytest.raises(TransientError):
        await _send_one(harness, limit=0.3)
    assert time.monotonic() - started < 1.5


async def test_rendered_messages_fit_the_provider(harness: Harness) -> None:
    """A group far over the provider's limit is sent as parts the provider accepts whole."""
    if not harness.proactive_limit:
        pytest.skip("no documented size limit: this channel learns by TooLarge")
    channel = harness.channel()
    group = big_notification(count=30, summary_chars=200)
    for message in channel.render(group):
        await channel.send(message)
    await channel.aclose()
    received = "".join(harness.bodies())
    assert all(f"api-{i}:9090" in received for i in range(30))


async def test_too_large_answer_leads_to_parts_that_fit(harness: Harness) -> None:
    """After the provider refuses a size, split_for_retry parts are accepted and lose no event."""
    if harness.type_name == "email":
        pytest.skip("SMTP size refusals (552) are permanent; mail is not split")
    harness.unthrottle()
    channel = harness.channel()
    [message] = channel.render(big_notification(count=150, summary_chars=400), budget=10**7)
    pending: list[Message] = [message]
    refused = 0
    while pending:
        part = pending.pop(0)
        try:
            await channel.send(part)
        except TooLarge:
            refused += 1
            pending[:0] = channel.split_for_retry(part)
    await channel.aclose()
    assert refused >= 1
    accepted = "".join(harness.bodies())
    assert all(f"api-{i}:9090" in accepted for i in range(150))
