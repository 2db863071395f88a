"""Silences over HTTP, on each real store: they quiet what matches (alerts and CI alike),
let the rest through, end, and outlive a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from feeding import post_fixture
from oncallkit import fire, paging_routes, story
from providers.webhook import FakeReceiver
from service import alert, alertmanager_body, serve, wait_until
from stores import Backend


def routes(receiver: FakeReceiver) -> str:
    return paging_routes(receiver, 'status=~"firing|failure"')


def told(receiver: FakeReceiver) -> list[str]:
    """The alertnames (or pipelines) the receiver was told of, in order."""
    return [
        e["labels"].get("alertname") or e["labels"]["pipeline"]
        for r in receiver.requests
        for e in r.json()["events"]
    ]


def silence(client: httpx.Client, *matchers: str, **fields: Any) -> str:
    body = {"matchers": list(matchers), "duration": "2h", "created_by": "alice", **fields}
    answer = client.post("/api/silences", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_a_silence_quiets_matching_alerts_and_ci_and_lets_others_through(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A silence on alertname and one on a project stop a DiskFull and the project's failed
    pipeline, each recorded as "silenced by <id>"; another alert still goes out."""
    with serve(tmp_path, routes(fake_receiver), **backend.settings()) as client:
        disk = silence(client, 'alertname="DiskFull"', 'cluster=~"prod-.*"', comment="migration")
        ci = silence(client, 'project="android-team/customer-app"')
        quiet = fire(client, "DiskFull", cluster="prod-eu")
        other_cluster = fire(client, "DiskFull", cluster="staging")
        assert post_fixture(client, "gitlab/pipeline_hook.failed.json").status_code == 202
        loud = fire(client, "HighLatency", cluster="prod-eu")
        wait_until(lambda: len(told(fake_receiver)) >= 2)
        time.sleep(0.5)
        silenced = story(client, quiet)
        events = client.get("/api/events").json()["events"]
        pipeline = next(e for e in events if e["labels"]["kind"] == "pipeline")
        assert story(client, loud)["outcomes"][0]["outcome"] == "sent"
        assert story(client, other_cluster)["silences"] == []
        metrics = client.get("/metrics").text
    assert 'signalbox_silences{state="active"} 2.0' in metrics
    assert sorted(told(fake_receiver)) == ["DiskFull", "HighLatency"]
    assert silenced["silenced_by"] == f"silenced by {disk}"
    assert silenced["silences"] == [disk]
    assert [(o["stage"], o["detail"]) for o in silenced["outcomes"]] == [
        ("silence", f"silenced by {disk}")
    ]
    assert pipeline["silenced_by"] == f"silenced by {ci}"
    assert [o["stage"] for o in pipeline["outcomes"]] == ["silence"]


def test_silences_are_listed_by_state_expire_and_survive_a_restart(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A silence made before a restart still quiets after it; once expired by DELETE it is
    listed as expired and the next matching alert goes out; a pending one is listed as such."""
    with serve(tmp_path, routes(fake_receiver), **backend.settings()) as client:
        made = silence(client, 'alertname="DiskFull"')
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        pending = silence(client, 'alertname="Later"', starts_at=later)
    with serve(tmp_path, routes(fake_receiver), **backend.settings()) as client:
        first = fire(client, "DiskFull", instance="a")
        wait_until(lambda: story(client, first)["outcomes"])
        assert story(client, first)["silenced_by"] == f"silenced by {made}"
        active = client.get("/api/silences", params={"state": "active"}).json()["silences"]
        assert [(s["id"], s["matchers"], s["created_by"]) for s in active] == [
            (made, ['alertname="DiskFull"'], "alice")
        ]
        listed = client.get("/api/silences", params={"state": "pending"}).json()["silences"]
        assert [s["id"] for s in listed] == [pending]
        gone = client.delete(f"/api/silences/{made}")
        assert gone.status_code == 200
        assert gone.json()["silence"]["state"] == "expired"
        second = fire(client, "DiskFull", instance="b")
        wait_until(lambda: told(fake_receiver) == ["DiskFull"])
        assert story(client, second)["silenced_by"] is None
        expired = client.get("/api/silences", params={"state": "expired"}).json()["silences"]
        assert [s["id"] for s in expired] == [made]
        assert client.delete("/api/silences/no-such").status_code == 404


def test_bad_silences_are_refused_naming_the_problem(tmp_path: Path, backend: Backend) -> None:
    """A bad matcher is a 400 that quotes it; so are a missing end and an unknown state."""
    with serve(tmp_path, **backend.settings()) as client:
        bad = client.post(
            "/api/silences",
            json={"matchers": ['a="ok"', "cluster=~(("], "duration": "1h", "created_by": "a"},
        )
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid silence"
        assert "cluster=~((" in bad.json()["detail"]
        no_end = client.post("/api/silences", json={"matchers": ['a="b"'], "created_by": "a"})
        assert no_end.status_code == 400
        assert "duration" in no_end.json()["detail"]
        nobody = client.post("/api/silences", json={"matchers": ['a="b"'], "duration": "1h"})
        assert nobody.status_code == 400
        assert "created_by" in nobody.json()["detail"]
        assert client.get("/api/silences", params={"state": "odd"}).status_code == 400
        assert client.get("/api/silences").json() == {"silences": []}


def test_the_route_tester_says_a_silence_would_quiet_the_event(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """The console's route tester names the silence in force that matches a pasted alert,
    and says nothing of it for an alert it does not match."""
    with serve(tmp_path, routes(fake_receiver), **backend.settings()) as client:
        made = silence(client, 'alertname="DiskFull"')

        def tested(name: str) -> str:
            form = {
                "source": "alertmanager",
                "payload": json.dumps(alertmanager_body(alert(name))),
                "headers": "",
                "labels": "",
            }
            answer = client.post("/ui/config/route-test", data=form, headers={"hx-request": "1"})
            assert answer.status_code == 200, answer.text
            return answer.text

        assert f"silenced by {made}" in tested("DiskFull")
        assert "silenced by" not in tested("HighLoad")


def test_a_silence_running_out_lets_the_next_alert_through(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A one-second silence quiets a DiskFull; once its time is up the next one is sent,
    and the silence is listed as expired."""
    with serve(tmp_path, routes(fake_receiver), **backend.settings()) as client:
        made = silence(client, 'alertname="DiskFull"', duration="1s")
        quiet = fire(client, "DiskFull", instance="a")
        wait_until(lambda: story(client, quiet)["outcomes"])
        time.sleep(1.2)
        loud = fire(client, "DiskFull", instance="b")
        wait_until(lambda: told(fake_receiver) == ["DiskFull"])
        assert story(client, quiet)["silenced_by"] == f"silenced by {made}"
        assert story(client, loud)["silenced_by"] is None
        expired = client.get("/api/silences", params={"state": "expired"}).json()["silences"]
        assert [s["id"] for s in expired] == [made]
