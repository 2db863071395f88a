"""The delivery bus end to end: real store, real channels, fake providers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from app.bus.retry import RetryPolicy
from app.bus.target import Target
from app.events import Event
from app.metrics import DELIVERIES
from app.sources import SOURCE_MODULES
from app.store import Store
from busharness import (
    accept,
    alerts,
    channel_configs,
    configure,
    deliveries,
    max_in_any_window,
    running_bus,
    wait_for,
)
from channels.webhook import WebhookConfig
from fixtures import payload
from providers.dingtalk import FakeDingTalk
from providers.webhook import FakeReceiver
from stores import Backend


def hook(receiver: FakeReceiver, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": f"{receiver.base_url}/in", **extra}


def listed(receiver: FakeReceiver) -> list[list[str]]:
    """Per request, the instance labels of the events it listed."""
    return [[e["labels"]["instance"] for e in r.json()["events"]] for r in receiver.requests]


async def test_group_wait_batches_related_alerts(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Alerts of one alertname arriving within group_wait go out as one message."""
    target = Target("0", "hook", group_by=("alertname",), group_wait=0.3)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        for event in alerts(3):
            await accept(bus, store, [event], target)
        await wait_for(lambda: len(fake_receiver.requests) == 1)
        await wait_for(lambda: deliveries(store, "sent"))
    assert sorted(listed(fake_receiver)[0]) == ["host-0", "host-1", "host-2"]
    assert fake_receiver.requests[0].json()["group_labels"] == {"alertname": "High CPU Temperature"}


async def test_no_group_wait_sends_each_event_alone(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """group_wait 0s means no batching: one message per event."""
    target = Target("0", "hook")
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(3), target)
        await wait_for(lambda: len(fake_receiver.requests) == 3)
    assert sorted(i for r in listed(fake_receiver) for i in r) == ["host-0", "host-1", "host-2"]


async def test_duplicate_within_dedup_window_is_dropped(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """The same fingerprint and status twice within dedup_window is told once."""
    target = Target("0", "hook", dedup_window=60)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        first = alerts(1)
        again = alerts(1)
        assert first[0].fingerprint == again[0].fingerprint
        await accept(bus, store, first, target)
        await accept(bus, store, again, target)
        resolved = alerts(1, status="resolved")
        await accept(bus, store, resolved, target)
        await wait_for(lambda: len(fake_receiver.requests) == 2)
        # The receiver saw the request before its answer reached the bus: wait for both rows.
        await wait_for(lambda: sent_carry(store, 2))
        await asyncio.sleep(0.3)  # a third message, if any, arrives now
        sent = await deliveries(store, "sent")
    statuses = sorted(r.json()["events"][0]["labels"]["status"] for r in fake_receiver.requests)
    assert statuses == ["firing", "resolved"]
    assert len(sent) == 2


def alertmanager_notifications() -> list[list[Event]]:
    """A flapping alert as Alertmanager posts it, built from the real firing fixture:
    A and B fire; A resolves (B still firing, sent again with it); A fires again with a
    new startsAt; then Alertmanager's repeat of the whole group."""
    doc = payload("alertmanager/firing.multi.v4_fingerprint.json")
    first, second = doc["alerts"]
    refired = {**first, "startsAt": "2020-02-06T00:31:12.5Z"}
    resolved = {**first, "status": "resolved", "endsAt": "2020-02-06T00:25:03.1Z"}
    bodies = [
        {**doc, "alerts": [first, second]},
        {**doc, "alerts": [resolved, second]},
        {**doc, "alerts": [refired, second]},
        {**doc, "alerts": [refired, second]},
    ]
    return [SOURCE_MODULES["alertmanager"].parse({}, body) for body in bodies]


async def test_a_refired_alert_is_news_within_the_dedup_window(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """firing → resolved → firing again (new startsAt) is told three times; the repeats of
    the same news (B every time, the group's repeat) are told once."""
    target = Target("0", "hook", dedup_window=300)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        for events in alertmanager_notifications():
            await accept(bus, store, events, target)
        await wait_for(lambda: len(fake_receiver.requests) >= 4)
        await asyncio.sleep(0.3)
    told = [
        (e["fingerprint"], e["labels"]["status"], e["started_at"])
        for r in fake_receiver.requests
        for e in r.json()["events"]
    ]
    assert sorted(told) == sorted(
        [
            ("a1bc48475b20e73d", "firing", "2020-02-06T00:17:58.432911Z"),
            ("c2ea85182f28cbd9", "firing", "2020-02-06T00:17:58.432911Z"),
            ("a1bc48475b20e73d", "resolved", "2020-02-06T00:17:58.432911Z"),
            ("a1bc48475b20e73d", "firing", "2020-02-06T00:31:12.500000Z"),
        ]
    )


async def test_send_resolved_false_drops_resolved(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A route with send_resolved: false does not tell resolutions."""
    target = Target("0", "hook", send_resolved=False)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1, status="resolved"), target)
        await accept(bus, store, alerts(1, status="firing", team="x"), target)
        await wait_for(lambda: len(fake_receiver.requests) == 1)
    assert fake_receiver.requests[0].json()["events"][0]["labels"]["status"] == "firing"


async def test_transient_errors_are_retried_until_sent(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Two 5xx answers then success: the delivery is sent and every attempt is recorded."""
    fake_receiver.force("http_500", "http_503")
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1), Target("0", "hook"))
        await wait_for(lambda: deliveries(store, "sent"))
        [sent] = await deliveries(store, "sent")
    assert [a["outcome"] for a in sent.attempts] == ["failed", "failed", "sent"]
    assert "HTTP 500" in sent.attempts[0]["detail"]
    assert len(fake_receiver.requests) == 3


async def test_receiver_down_then_back_gets_everything_in_order(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """While a receiver is down a group's flushes pile up; after it recovers every one
    arrives, in the order they were made."""
    fake_receiver.force(*["http_503"] * 3)
    target = Target("0", "hook", group_by=("alertname",), group_wait=0.05, group_interval=0.1)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        for event in alerts(5):
            await accept(bus, store, [event], target)
            await asyncio.sleep(0.15)
        await wait_for(lambda: len(fake_receiver.requests) >= 8)
        await wait_for(lambda: not bus.queue_depth())
    answered = fake_receiver.requests[3:]
    sizes = [len(r.json()["events"]) for r in answered]
    assert sizes == sorted(sizes) and sizes[-1] == 5, sizes
    assert sorted(listed(fake_receiver)[-1]) == [f"host-{i}" for i in range(5)]


async def test_an_outage_longer_than_eight_attempts_loses_nothing(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Thirty messages to a receiver that is down for a while all arrive once it is back:
    retries are bounded by the time budget, not by a count of attempts."""
    policy = RetryPolicy(max_age=60.0, base=0.05, max_interval=0.4)
    fake_receiver.down_for(4.0)
    target = Target("0", "hook")
    async with running_bus(backend, {"hook": hook(fake_receiver)}, policy) as (bus, store):
        await accept(bus, store, alerts(30), target)

        async def all_sent() -> bool:
            await bus.recorded()
            return len(await deliveries(store, "sent")) == 30

        await wait_for(all_sent, within=30)
        assert await deliveries(store, "dead") == []
        sent = await deliveries(store, "sent")
    assert max(len(d.attempts) for d in sent) > 8


async def test_one_subject_stays_in_order_while_others_go_ahead(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Without batching, one alert's firing and resolved go out in that order even when the
    firing one needs retries, while other alerts are not held up behind it."""
    fake_receiver.force("http_503", "http_503")
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1), Target("0", "hook"))
        await accept(bus, store, alerts(1, status="resolved"), Target("0", "hook"))
        await accept(bus, store, alerts(3, team="other"), Target("0", "hook"))
        await wait_for(lambda: len(fake_receiver.requests) == 7)
    told = [
        (e["labels"]["instance"], e["labels"].get("team"), e["labels"]["status"])
        for r in fake_receiver.requests[2:]
        for e in r.json()["events"]
    ]
    mine = [t for t in told if t[1] is None]
    assert mine == [("host-0", None, "firing"), ("host-0", None, "resolved")]
    assert told.index(("host-0", None, "firing")) > 0, "others went ahead during its retries"


async def test_permanent_error_goes_dead_then_to_fallback(
    backend: Backend, fake_receiver: FakeReceiver, fake_dingtalk: FakeDingTalk
) -> None:
    """A revoked DingTalk token kills the delivery; its fallback channel gets it, marked."""
    channels = {
        "ding": {
            "type": "dingtalk",
            "url": f"{fake_dingtalk.base_url}/robot/send?access_token=revoked",
            "fallback_channel": "hook",
        },
        "hook": hook(fake_receiver),
    }
    async with running_bus(backend, channels) as (bus, store):
        await accept(bus, store, alerts(1), Target("0", "ding"))
        await wait_for(lambda: len(fake_receiver.requests) == 1)
        [dead] = await deliveries(store, "dead")
        await wait_for(lambda: deliveries(store, "sent"))
        [fallback] = await deliveries(store, "sent")
    assert "300001" in (dead.last_error or "")
    assert "revoked" not in (dead.last_error or ""), "tokens never appear in errors"
    assert fallback.is_fallback and fallback.receiver == "hook"
    assert fake_receiver.requests[0].json()["is_fallback"] is True


async def test_a_delivery_that_cannot_be_sent_dies_once_and_lets_its_subject_go_on(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A template that fails while rendering makes that delivery dead at its first attempt,
    with the error recorded; the fallback takes it and the subject's next message goes out."""
    template = "{% if events[0].labels.status == 'firing' %}{{ 1 // 0 }}{% else %}ok{% endif %}"
    target = Target("0", "hook", template=template)
    channels = {"hook": hook(fake_receiver, fallback_channel="spare"), "spare": hook(fake_receiver)}
    async with running_bus(backend, channels) as (bus, store):
        await accept(bus, store, alerts(1), target)
        await accept(bus, store, alerts(1, status="resolved"), target)

        async def both_sent() -> bool:
            return len(await deliveries(store, "sent")) == 2

        # Route templates render in worker processes: the first one starts on a busy machine.
        await wait_for(both_sent, within=30)
        [dead] = await deliveries(store, "dead")
        sent = await deliveries(store, "sent")
    assert [a["outcome"] for a in dead.attempts] == ["dead"]
    assert "ZeroDivisionError" in (dead.last_error or "")
    assert sorted((d.receiver, d.is_fallback) for d in sent) == [("hook", False), ("spare", True)]
    texts = [r.json()["text"] for r in fake_receiver.requests]
    assert "ok" in texts


async def test_a_setting_the_http_client_refuses_is_a_dead_delivery(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A setting the HTTP client refuses at send time ends the delivery at once, without
    the secret in its error, instead of retrying it for ever. `signalbox check` rejects
    such settings; the config here is built past validation, as defence in depth."""
    url = fake_receiver.base_url.replace("http://", "http://user:s3cr3t-pw@") + "/in"
    refused = WebhookConfig.model_construct(
        type="webhook", url=SecretStr(url), headers={}, secret=None, timeout=5.0
    )
    async with running_bus(backend, {}) as (bus, store):
        await configure(bus, store, {"hook": refused})
        await accept(bus, store, alerts(1), Target("0", "hook"))
        await wait_for(lambda: deliveries(store, "dead"))
        [dead] = await deliveries(store, "dead")
    assert len(dead.attempts) == 1
    assert "s3cr3t-pw" not in (dead.last_error or "")
    assert fake_receiver.requests == []


async def test_a_reloaded_rate_limit_applies_to_deliveries_already_waiting(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A delivery held back by a 1-per-10s budget goes out as soon as a new config raises
    the budget, not when the old window ends."""
    slow = hook(fake_receiver, rate_limit={"messages": 1, "per": "10s"})
    async with running_bus(backend, {"hook": slow}) as (bus, store):
        await accept(bus, store, alerts(1), Target("0", "hook"))
        await wait_for(lambda: len(fake_receiver.requests) == 1)
        await accept(bus, store, alerts(1, team="other"), Target("0", "hook"))
        await asyncio.sleep(0.3)
        assert len(fake_receiver.requests) == 1, "held back by the budget"
        await configure(bus, store, {"hook": hook(fake_receiver)})
        await wait_for(lambda: len(fake_receiver.requests) == 2, within=3)


async def test_a_reloaded_route_template_applies_to_a_retrying_delivery(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A delivery made under a route's old template is sent with its new one after a reload."""
    fake_receiver.down_for(0.5)
    policy = RetryPolicy(max_age=30.0, base=0.05, max_interval=0.2)
    async with running_bus(backend, {"hook": hook(fake_receiver)}, policy) as (bus, store):
        await accept(bus, store, alerts(1), Target("0", "hook", template="old"))
        bus.configure(channel_configs({"hook": hook(fake_receiver)}), {"0": "new"})
        await wait_for(lambda: deliveries(store, "sent"))
    assert fake_receiver.requests[-1].json()["text"] == "new"


async def test_dead_delivery_can_be_retried_by_hand(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A delivery that died sends again when retried, keeping its history."""
    fake_receiver.force(*["http_500"] * 4)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1), Target("0", "hook"))
        await wait_for(lambda: deliveries(store, "dead"))
        [dead] = await deliveries(store, "dead")
        await bus.retry(dead.id)
        await wait_for(lambda: deliveries(store, "sent"))
        [sent] = await deliveries(store, "sent")
    assert sent.id == dead.id
    outcomes = [a["outcome"] for a in sent.attempts]
    assert outcomes == ["failed", "failed", "failed", "dead", "retry", "sent"]


async def sent_carry(store: Store, events: int) -> bool:
    """Sent deliveries carry (at least) this many events."""
    return sum(len(d.event_ids) for d in await deliveries(store, "sent")) >= events


async def test_storm_is_rate_limited_and_folded_into_digests(
    backend: Backend, fake_dingtalk: FakeDingTalk
) -> None:
    """1,000 alerts to one robot: at most its budget of messages, and every alert accounted."""
    fake_dingtalk.per_minute = 10_000  # our budget is compressed to 20/1s for the test
    path = fake_dingtalk.robot("storm")
    channels = {
        "ding": {
            "type": "dingtalk",
            "url": f"{fake_dingtalk.base_url}{path}",
            "rate_limit": {"messages": 20, "per": "1s"},
        }
    }
    counted = DELIVERIES.labels("dingtalk", "folded")
    before = counted._value.get()
    async with running_bus(backend, channels) as (bus, store):
        await accept(bus, store, alerts(1000), Target("0", "ding"))
        await wait_for(lambda: deliveries(store, "sent"), within=20)
        # Groups flush (and their deliveries commit) while the first ones are sent: the
        # queue may be empty before the last flush has reached the sender.
        await wait_for(lambda: sent_carry(store, 1000), within=20)
        await wait_for(lambda: not bus.queue_depth(), within=20)
        await bus.recorded()
        everything = await deliveries(store)
        stories = await store.read(lambda tx: tx.list_events(limit=1000))
    sent = [d for d in everything if d.state == "sent"]
    folded = [d for d in everything if d.state == "folded"]
    arrivals = [r.at for r in fake_dingtalk.requests]
    assert max_in_any_window(arrivals, 1.0) <= 20
    assert len(fake_dingtalk.requests) == sum(d.parts_sent for d in sent)
    told = [event_id for d in sent for event_id in d.event_ids]
    assert len(told) == len(set(told)) == 1000, "every alert told exactly once"
    digests = [d for d in sent if d.route == "digest"]
    assert digests and all(d.folded > 0 for d in digests)
    assert len(folded) + len(sent) - len(digests) == 1000
    assert counted._value.get() - before == len(folded), "folded deliveries are counted"
    # The robot speaks Chinese by default: "……另有 N 条事件未列出" (… and N more not listed).
    assert any("条事件未列出" in r.json()["markdown"]["text"] for r in fake_dingtalk.requests)
    # Every event's story names the digest that told it, and that the digest was sent.
    digest_ids = {d.id for d in digests}
    for story in stories:
        outcomes = {o["outcome"]: o for o in story["outcomes"]}
        if "folded" in outcomes:
            digest = outcomes["folded"]["detail"].removeprefix("folded into digest ")
            assert digest in digest_ids
            assert outcomes["sent"]["delivery_id"] == digest
        else:
            assert outcomes["sent"]["delivery_id"] in {d.id for d in sent}


async def test_one_at_a_time_receiver_drains_a_long_queue(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """With concurrency 1 every queued delivery still goes out, one after another."""
    budget = {"messages": 1000, "per": "1s"}
    channels = {"hook": {**hook(fake_receiver), "concurrency": 1, "rate_limit": budget}}
    async with running_bus(backend, channels) as (bus, store):
        await accept(bus, store, alerts(30), Target("0", "hook"))
        await wait_for(lambda: len(fake_receiver.requests) == 30)
        await wait_for(lambda: not bus.queue_depth())


def repeating(**extra: float) -> Target:
    """A grouped route that repeats a firing alert every 0.2 s."""
    settings: dict[str, Any] = {
        "group_by": ("alertname",),
        "group_wait": 0.05,
        "group_interval": 0.1,
        "repeat_interval": 0.2,
        **extra,
    }
    return Target("0", "hook", **settings)


async def test_an_alert_nobody_resolves_stops_repeating_and_is_shown_stale(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Without news for resolve_timeout a firing alert is no longer repeated, and its story
    says why."""
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1), repeating(resolve_timeout=0.6))
        await asyncio.sleep(1.2)
        told = len(fake_receiver.requests)
        await asyncio.sleep(0.6)
        assert len(fake_receiver.requests) == told, "no repeat after going stale"
        await bus.recorded()
        [story] = await store.read(lambda tx: tx.list_events(limit=1))
    assert 2 <= told <= 5
    stale = [o for o in story["outcomes"] if o["outcome"] == "suppressed"]
    assert [o["stage"] for o in stale] == ["stale"]
    assert "resolve_timeout" in stale[0]["detail"]


async def test_an_alert_still_reported_firing_keeps_repeating(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Alertmanager re-sending the same firing alert is news that it still fires: repeats go
    on past resolve_timeout although each re-send is dropped as a duplicate."""
    target = repeating(resolve_timeout=0.6, dedup_window=300)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        for _ in range(8):
            await accept(bus, store, alerts(1), target)
            await asyncio.sleep(0.2)
        told = len(fake_receiver.requests)
        await asyncio.sleep(0.45)
        assert len(fake_receiver.requests) > told, "still repeating 1.6 s after the first"


async def test_an_alert_past_its_own_ends_at_stops_repeating(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A firing alert whose sender gave an endsAt is not repeated after it."""
    [event] = alerts(1)
    event.expires_at = datetime.now(UTC) + timedelta(seconds=0.5)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, [event], repeating())
        await asyncio.sleep(1.1)
        told = len(fake_receiver.requests)
        await asyncio.sleep(0.6)
        assert len(fake_receiver.requests) == told
        await bus.recorded()
        [story] = await store.read(lambda tx: tx.list_events(limit=1))
    assert any("endsAt" in (o.get("detail") or "") for o in story["outcomes"])
