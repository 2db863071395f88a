"""Stages and channel answers that shape delivery: inhibition, disabled channels,
too-large answers, provider rate-limit penalties, mute windows and route templates."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from app.bus.retry import RetryPolicy
from app.bus.target import Target
from busharness import accept, alerts, deliveries, running_bus, wait_for
from fixtures import load
from providers.dingtalk import FakeDingTalk
from providers.webhook import FakeReceiver
from service import alert, alertmanager_body, serve, wait_until
from stores import Backend


def hook(receiver: FakeReceiver) -> dict[str, Any]:
    return {"type": "webhook", "url": f"{receiver.base_url}/in"}


async def test_disabled_channel_records_skipped(backend: Backend) -> None:
    """A channel whose URL resolved empty gets its deliveries recorded as skipped, not failed."""
    async with running_bus(backend, {"off": {"type": "slack", "url": ""}}) as (bus, store):
        await accept(bus, store, alerts(2), Target("0", "off"))
        await wait_for(lambda: _count(deliveries(store, "skipped"), 2))
        [failed, dead] = [await deliveries(store, s) for s in ("failed", "dead")]
    assert failed == dead == []


async def _count(found: Any, expected: int) -> bool:
    return len(await found) == expected


async def test_too_large_answer_splits_instead_of_retrying(
    backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A 413 from the receiver makes the bus split the group; every event still arrives."""
    fake_receiver.max_body_bytes = 8_000
    target = Target("0", "hook", group_by=("alertname",), group_wait=0.2)
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        # One post: all of them in the group whatever a commit costs.
        await accept(bus, store, alerts(24), target)
        await wait_for(lambda: deliveries(store, "sent"))
        [sent] = await deliveries(store, "sent")
    accepted = [r for r in fake_receiver.requests if len(r.body) <= 8_000]
    told = sorted(e["labels"]["instance"] for r in accepted for e in r.json()["events"])
    assert told == sorted(f"host-{i}" for i in range(24))
    assert len(accepted) > 1 and sent.parts_sent == len(accepted)
    assert [a["outcome"] for a in sent.attempts] == ["sent"], "a split is not a failed attempt"


async def test_send_too_fast_pauses_the_robot(
    backend: Backend, fake_dingtalk: FakeDingTalk
) -> None:
    """After DingTalk's 130101 nothing more is sent to that robot during its penalty."""
    robot = f"{fake_dingtalk.base_url}{fake_dingtalk.robot('busy')}"
    fake_dingtalk.force("rate_limit")
    patient = RetryPolicy(max_attempts=4, max_age=3600, base=0.02, max_interval=0.1)
    async with running_bus(backend, {"ding": {"type": "dingtalk", "url": robot}}, patient) as (
        bus,
        store,
    ):
        await accept(bus, store, alerts(3), Target("0", "ding"))
        await wait_for(lambda: deliveries(store, "failed"))
        await asyncio.sleep(0.5)
        [failed] = await deliveries(store, "failed")
    assert len(fake_dingtalk.requests) == 1
    assert "130101" in (failed.last_error or "")
    assert (failed.next_attempt_at or 0) >= time.time() + 500


async def test_muted_route_sends_nothing(backend: Backend, fake_receiver: FakeReceiver) -> None:
    """A route inside its mute_when interval drops the dispatch, and says why."""
    muted = Target("0", "hook", muted=lambda when: "mute_when weekend is active")
    async with running_bus(backend, {"hook": hook(fake_receiver)}) as (bus, store):
        await accept(bus, store, alerts(1), muted)
        await accept(bus, store, alerts(1, team="open"), Target("0", "hook"))
        await wait_for(lambda: deliveries(store, "sent"))
        await bus.recorded()
        stories = await store.read(lambda tx: tx.list_events(limit=10))
    assert len(fake_receiver.requests) == 1
    muted_story = next(s for s in stories if "team" not in s["labels"])
    [outcome] = muted_story["outcomes"]
    assert outcome["outcome"] == "suppressed" and outcome["stage"] == "mute"
    assert outcome["detail"] == "route 0 muted: mute_when weekend is active"


def test_inhibition_mutes_targets_while_the_source_fires(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """While ClusterDown fires for a cluster, that cluster's other alerts are muted; other
    clusters are not, and once it resolves the cluster's alerts flow again."""
    routes = f"""\
channels:
  sink: {{ type: webhook, url: "{fake_receiver.base_url}/in" }}
defaults:
  dedup_window: 0s
routes:
  - matchers: ['source="alertmanager"']
    to: [sink]
inhibit_rules:
  - source_matchers: ['alertname="ClusterDown"']
    target_matchers: ['source="alertmanager"', 'alertname!="ClusterDown"']
    equal: [cluster]
"""

    def post(client: Any, name: str, cluster: str, status: str = "firing") -> None:
        doc = alertmanager_body(alert(name, status, cluster=cluster))
        assert client.post("/hooks/alertmanager", json=doc).status_code == 202

    with serve(tmp_path, routes) as client:
        post(client, "ClusterDown", "c1")
        post(client, "PodCrash", "c1")
        post(client, "PodCrash", "c2")
        post(client, "ClusterDown", "c1", "resolved")
        post(client, "PodCrash", "c1")
        wait_until(lambda: len(fake_receiver.requests) >= 4)
        time.sleep(0.3)
    told = [
        (e["labels"]["alertname"], e["labels"]["cluster"], e["labels"]["status"])
        for r in fake_receiver.requests
        for e in r.json()["events"]
    ]
    assert sorted(told) == sorted(
        [
            ("ClusterDown", "c1", "firing"),
            ("PodCrash", "c2", "firing"),
            ("ClusterDown", "c1", "resolved"),
            ("PodCrash", "c1", "firing"),
        ]
    )


def test_failed_pipeline_inhibits_its_job_failures(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """While a pipeline is failed, job failures of the same project are muted."""
    routes = f"""\
sources:
  gitlab: {{ token: "t" }}
channels:
  sink: {{ type: webhook, url: "{fake_receiver.base_url}/in" }}
routes:
  - matchers: ['status="failure"']
    to: [sink]
inhibit_rules:
  - source_matchers: ['kind="pipeline"', 'status="failure"']
    target_matchers: ['kind="job"', 'status="failure"']
    equal: [project]
"""
    pipeline = load("gitlab/pipeline_hook.failed.json")
    job = load("gitlab/job_hook.build_failed.json").payload
    job["project"]["path_with_namespace"] = pipeline.payload["project"]["path_with_namespace"]
    other_job = load("gitlab/job_hook.build_failed.json")
    headers = {"content-type": "application/json", "x-gitlab-token": "t"}
    with serve(tmp_path, routes) as client:
        for body, event in (
            (pipeline.body, "Pipeline Hook"),
            (None, "Job Hook"),
            (other_job.body, "Job Hook"),
        ):
            sent = {"content": body} if body is not None else {"json": job}
            response = client.post(
                "/hooks/gitlab", headers={**headers, "x-gitlab-event": event}, **sent
            )
            assert response.status_code == 202, response.text
        wait_until(lambda: len(fake_receiver.requests) >= 2)
        time.sleep(0.3)
    told = [
        (e["labels"]["kind"], e["labels"]["project"])
        for r in fake_receiver.requests
        for e in r.json()["events"]
    ]
    assert sorted(told) == [
        ("job", "android-team/tindahannimama/dispatcher-app"),
        ("pipeline", "android-team/customer-app"),
    ]


def test_route_template_overrides_the_channel_text(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """A route's `template` replaces the message text its receivers get."""
    routes = f"""\
channels:
  sink: {{ type: webhook, url: "{fake_receiver.base_url}/in" }}
routes:
  - matchers: ['source="alertmanager"']
    to: [sink]
    template: "告警 {{{{ events | length }}}} 条: {{{{ events[0].labels.alertname }}}}"
"""
    with serve(tmp_path, routes) as client:
        doc = alertmanager_body(alert("DiskFull"))
        assert client.post("/hooks/alertmanager", json=doc).status_code == 202
        wait_until(lambda: fake_receiver.requests)
    assert fake_receiver.requests[0].json()["text"] == "告警 1 条: DiskFull"
