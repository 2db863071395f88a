"""Reloading routes.yaml under a running service: nothing lost, nothing half-applied."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from process import free_port, signalbox
from providers.webhook import FakeReceiver
from service import alert, alertmanager_body, serve, wait_until

AUTH = {"authorization": "Bearer am-token"}


def version(n: int) -> str:
    """Valid config `n`: both routes name receivers tagged with `n`."""
    return f"""\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  v{n}-a: {{ type: log }}
  v{n}-b: {{ type: log }}
routes:
  - {{ matchers: ['source="alertmanager"'], to: [v{n}-a], continue: true }}
  - {{ matchers: ['status="firing"'], to: [v{n}-b] }}
"""


BROKEN = version(0).replace("to: [v0-b]", "to: [missing]")


def test_reload_storm_while_events_stream_in(tmp_path: Path) -> None:
    """100 reloads (valid and invalid alternating) while posting: every post is accepted and
    every event routed entirely by one valid version."""
    config = tmp_path / "routes.yaml"
    config.write_text(version(1), encoding="utf-8")
    with serve(tmp_path, watch_config=True) as client:
        stop = threading.Event()
        answers: list[int] = []

        def post_forever() -> None:
            with httpx.Client(base_url=str(client.base_url), timeout=10) as poster:
                i = 0
                while not stop.is_set():
                    body = alertmanager_body(alert(f"A{i}"))
                    response = poster.post("/hooks/alertmanager", json=body, headers=AUTH)
                    answers.append(response.status_code)
                    i += 1

        poster = threading.Thread(target=post_forever)
        poster.start()
        reload_codes = []
        try:
            for n in range(2, 102):
                text = version(n) if n % 2 else BROKEN
                config.write_text(text, encoding="utf-8")
                reload_codes.append(client.post("/-/reload").status_code)
                assert client.get("/healthz").status_code == 200
        finally:
            stop.set()
            poster.join()
        events = client.get("/api/events", params={"limit": 1000}).json()["events"]
        dead = client.get("/api/deliveries", params={"state": "dead"}).json()["deliveries"]
    assert dead == [], "deliveries routed before a reload still go out"
    assert set(reload_codes) == {200, 400}
    assert answers and set(answers) == {202}
    assert len(events) == min(len(answers), 1000)
    for event in events:
        receivers = event["routing"]["receivers"]
        assert len(receivers) == 2, event["routing"]
        versions = {r.split("-")[0] for r in receivers}
        assert len(versions) == 1, f"one event routed by two configs: {receivers}"
        assert "missing" not in receivers


def test_reload_keeps_a_waiting_group(tmp_path: Path, fake_receiver: FakeReceiver) -> None:
    """A group waiting to flush survives a reload: one message, on time, with both alerts."""
    routes = f"""\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  sink: {{ type: webhook, url: "{fake_receiver.base_url}/in" }}
routes:
  - matchers: ['source="alertmanager"']
    to: [sink]
    group_by: [team]
    group_wait: 1500ms
"""
    config = tmp_path / "routes.yaml"
    config.write_text(routes, encoding="utf-8")
    with serve(tmp_path) as client:
        first = alertmanager_body(alert("A1", team="db"))
        assert client.post("/hooks/alertmanager", json=first, headers=AUTH).status_code == 202
        config.write_text(routes + "# edited\n", encoding="utf-8")
        assert client.post("/-/reload").status_code == 200
        second = alertmanager_body(alert("A2", team="db"))
        assert client.post("/hooks/alertmanager", json=second, headers=AUTH).status_code == 202
        time.sleep(0.5)
        assert fake_receiver.requests == [], "a reload must not flush a group early"
        wait_until(lambda: fake_receiver.requests)
        time.sleep(0.3)
    [message] = fake_receiver.requests
    names = sorted(e["labels"]["alertname"] for e in message.json()["events"])
    assert names == ["A1", "A2"]


def test_sighup_reloads_the_real_server(tmp_path: Path) -> None:
    """`kill -HUP` makes a running `signalbox serve` (file watching off) load the edit."""
    (tmp_path / "routes.yaml").write_text(version(1), encoding="utf-8")
    port = free_port()
    with signalbox(tmp_path, port, env={"SIGNALBOX_WATCH_CONFIG": "false"}) as proc:
        url = f"http://127.0.0.1:{port}/api/config"
        before = httpx.get(url).json()["hash"]
        (tmp_path / "routes.yaml").write_text(version(2), encoding="utf-8")
        time.sleep(0.5)
        assert httpx.get(url).json()["hash"] == before, "no watching: nothing reloads alone"
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(lambda: httpx.get(url).json()["hash"] != before)
        assert proc.poll() is None, "SIGHUP reloads, it does not stop the server"


def test_a_fixed_url_reaches_a_retrying_delivery_without_other_traffic(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """A delivery failing on a dead URL goes out at its next retry once routes.yaml has the
    right URL, with no request to Signalbox in between: the reload is pushed to the bus."""
    dead_url = f"http://127.0.0.1:{free_port()}/gone"

    def routes(url: str) -> str:
        return f"""\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  hook: {{ type: webhook, url: "{url}" }}
routes:
  - {{ matchers: ['source="alertmanager"'], to: [hook] }}
"""

    config = tmp_path / "routes.yaml"
    config.write_text(routes(dead_url), encoding="utf-8")
    with serve(tmp_path, watch_config=True, retry_max_interval=0.5) as client:
        body = alertmanager_body(alert("DiskFull"))
        assert client.post("/hooks/alertmanager", json=body, headers=AUTH).status_code == 202
        time.sleep(1.0)  # a few failed attempts against the dead URL
        config.write_text(routes(f"{fake_receiver.base_url}/in"), encoding="utf-8")
        wait_until(lambda: fake_receiver.requests, within=10)
    [request] = fake_receiver.requests
    assert request.json()["events"][0]["labels"]["alertname"] == "DiskFull"
