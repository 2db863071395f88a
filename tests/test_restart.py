"""Killed with SIGKILL mid-stream, the service resumes: nothing that got a 2xx is lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from fixtures import payload
from process import free_port, signalbox
from providers.webhook import FakeReceiver

ROUTES = """\
channels:
  sink: {{ type: webhook, url: "{url}/in", rate_limit: {{ messages: 1000, per: 1s }} }}
routes:
  - matchers: ['source="alertmanager"']
    to: [sink]
    group_by: [instance]
    group_wait: {group_wait}
"""


def post_alert(port: int, i: int, client: httpx.Client | None = None) -> str:
    doc = payload("alertmanager/firing.multi.v4_fingerprint.json")
    alert = doc["alerts"][0]
    alert["labels"]["instance"] = f"host-{i}"
    alert["fingerprint"] = f"fp-{i}"
    doc["alerts"] = [alert]
    post = client.post if client is not None else httpx.post
    response = post(f"http://127.0.0.1:{port}/hooks/alertmanager", json=doc)
    assert response.status_code == 202, response.text
    return str(response.json()["event_ids"][0])


def told_instances(receiver: FakeReceiver) -> list[str]:
    return [e["labels"]["instance"] for r in receiver.requests for e in r.json()["events"]]


def test_sigkill_while_events_wait_in_groups(tmp_path: Path, fake_receiver: FakeReceiver) -> None:
    """Events accepted but still waiting in groups at SIGKILL are delivered after restart."""
    (tmp_path / "routes.yaml").write_text(
        ROUTES.format(url=fake_receiver.base_url, group_wait="4s"), encoding="utf-8"
    )
    port = free_port()
    with signalbox(tmp_path, port) as proc, httpx.Client() as client:
        for i in range(30):
            post_alert(port, i, client)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert fake_receiver.requests == [], "killed before group_wait ended"
    with signalbox(tmp_path, port):
        deadline = time.monotonic() + 20
        while len(told_instances(fake_receiver)) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert sorted(told_instances(fake_receiver)) == sorted(f"host-{i}" for i in range(30))


def test_sigkill_while_receiver_is_down(tmp_path: Path, fake_receiver: FakeReceiver) -> None:
    """Deliveries failing at SIGKILL resume after restart and are each told once."""
    (tmp_path / "routes.yaml").write_text(
        ROUTES.format(url=fake_receiver.base_url, group_wait="0s"), encoding="utf-8"
    )
    fake_receiver.force(*["http_503"] * 1000)
    port = free_port()
    with signalbox(tmp_path, port) as proc:
        for i in range(10):
            post_alert(port, i)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    fake_receiver.reset()
    with signalbox(tmp_path, port):
        deadline = time.monotonic() + 30
        while len(told_instances(fake_receiver)) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        states = httpx.get(f"http://127.0.0.1:{port}/api/deliveries?state=sent").json()
    assert sorted(told_instances(fake_receiver)) == sorted(f"host-{i}" for i in range(10))
    assert len(states["deliveries"]) == 10
