"""The generic webhook: payload shape, HMAC signature and extra headers."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from pydantic import ValidationError

from channels.base import PermanentError
from channels.webhook import WebhookChannel, WebhookConfig
from providers.sample import alert_event, notification, pipeline_event
from providers.server import Reply
from providers.webhook import FakeReceiver


def hook(fake: FakeReceiver, **extra: object) -> WebhookChannel:
    config = WebhookConfig.model_validate({"url": f"{fake.base_url}/events", **extra})
    return WebhookChannel("audit", config)


async def test_payload_carries_events_and_group_fields(fake_receiver: FakeReceiver) -> None:
    """The body holds each Event as JSON plus receiver, route, group and fold fields."""
    channel = hook(fake_receiver, headers={"Authorization": "Bearer abc"})
    group = notification(
        pipeline_event(1), alert_event(2), group_labels={"alertname": "X"}, folded=3
    )
    await channel.send((await channel.render(group))[0])
    await channel.aclose()
    request = fake_receiver.requests[0]
    body = request.json()
    assert [e["fingerprint"] for e in body["events"]] == ["fp-1", "alert-2"]
    assert body["events"][0]["labels"]["actor"] == "张三"
    assert (body["receiver"], body["route"], body["folded"]) == ("ops", "0", 3)
    assert body["group_labels"] == {"alertname": "X"} and body["is_fallback"] is False
    assert request.headers["authorization"] == "Bearer abc"
    assert "x-signalbox-signature" not in request.headers


async def test_signature_covers_timestamp_and_exact_body(fake_receiver: FakeReceiver) -> None:
    """With a secret, X-Signalbox-Signature is sha256=HMAC(secret, "<timestamp>." + body)."""
    fake_receiver.secret = "shh"
    channel = hook(fake_receiver, secret="shh")
    await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    request = fake_receiver.requests[0]
    timestamp = request.headers["x-signalbox-timestamp"]
    assert timestamp.isdigit() and abs(int(timestamp) - time.time()) < 60
    mac = hmac.new(b"shh", timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-signalbox-signature"] == f"sha256={mac}"
    wrong = hook(fake_receiver, secret="nope")
    with pytest.raises(PermanentError, match="401"):
        await wrong.send((await wrong.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    await wrong.aclose()


async def test_cookies_a_receiver_sets_are_not_sent_back(
    fake_receiver: FakeReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Set-Cookie in an answer does not make later requests carry a Cookie."""
    monkeypatch.setattr(
        fake_receiver, "answer", lambda request: Reply(200, b"", {"set-cookie": "s=abc; Path=/"})
    )
    channel = hook(fake_receiver)
    for n in (1, 2):
        await channel.send((await channel.render(notification(pipeline_event(n))))[0])
    await channel.aclose()
    assert len(fake_receiver.requests) == 2
    assert "cookie" not in fake_receiver.requests[1].headers


async def test_bodies_stay_within_max_body_bytes(fake_receiver: FakeReceiver) -> None:
    """A group over max_body_bytes goes as several requests within it, every event once;
    one event too big alone has its longest strings cut and says "truncated": true."""
    channel = hook(fake_receiver, max_body_bytes=8_000)
    group = notification(*(pipeline_event(n) for n in range(40)))
    huge = alert_event(99, summary="慢" * 1_000_000)
    for message in [*await channel.render(group), *await channel.render(notification(huge))]:
        await channel.send(message)
    await channel.aclose()
    bodies = [r.json() for r in fake_receiver.requests]
    assert len(bodies) > 2 and all(len(r.body) <= 8_000 for r in fake_receiver.requests)
    events = [e for body in bodies for e in body["events"]]
    assert [e["fingerprint"] for e in events] == [f"fp-{n}" for n in range(40)] + ["alert-99"]
    assert events[-1]["truncated"] is True and events[-1]["id"] == huge.id
    assert events[-1]["annotations"]["summary"].endswith("…")
    assert bodies[0]["title"].endswith(f"(1/{len(bodies) - 1})")


def test_max_body_bytes_is_a_setting_with_a_floor() -> None:
    """max_body_bytes defaults to 1 MB, takes other caps, and refuses one too small."""
    url = {"url": "https://audit.example.com/"}
    assert WebhookConfig.model_validate(url).max_body_bytes == 1_000_000
    assert WebhookConfig.model_validate({**url, "max_body_bytes": 4096}).max_body_bytes == 4096
    with pytest.raises(ValidationError, match="max_body_bytes"):
        WebhookConfig.model_validate({**url, "max_body_bytes": 100})
