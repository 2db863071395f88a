"""Alertmanager's v2 silence API, driven by the real amtool (and in Grafana's JSON):
silences made there are Signalbox silences, and back."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from oncallkit import fire, paging_routes, story
from providers.webhook import FakeReceiver
from service import serve, wait_until
from stores import Backend
from test_deploy import venv_tool


def amtool(client: httpx.Client, *args: str) -> str:
    url = f"--alertmanager.url={client.base_url}"
    done = subprocess.run(
        [venv_tool("amtool", "prometheus-alertmanager"), url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_amtool_adds_queries_and_expires_silences(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """`amtool silence add` makes a silence that quiets the next matching alert and is
    listed by /api/silences; `amtool silence query` shows it; `amtool silence expire`
    ends it."""
    with serve(tmp_path, paging_routes(fake_receiver), **backend.settings()) as client:
        silence_id = amtool(
            client,
            "silence",
            "add",
            "alertname=DiskFull",
            "cluster=~prod-.*",
            "--author=alice",
            "--comment=migration",
            "--duration=2h",
        ).strip()
        [ours] = client.get("/api/silences").json()["silences"]
        assert ours["id"] == silence_id
        assert sorted(ours["matchers"]) == ['alertname="DiskFull"', 'cluster=~"prod-.*"']
        assert ours["created_by"] == "alice"
        quiet = fire(client, cluster="prod-eu")
        wait_until(lambda: story(client, quiet)["outcomes"])
        assert story(client, quiet)["silenced_by"] == f"silenced by {silence_id}"
        [listed] = json.loads(amtool(client, "silence", "query", "-o", "json"))
        assert listed["id"] == silence_id
        assert listed["status"]["state"] == "active"
        assert {"name": "cluster", "value": "prod-.*", "isRegex": True, "isEqual": True} in (
            listed["matchers"]
        )
        amtool(client, "silence", "expire", silence_id)
        [gone] = client.get("/api/silences", params={"state": "expired"}).json()["silences"]
        assert gone["id"] == silence_id


def test_v2_silences_in_grafanas_json_are_created_updated_and_refused_when_bad(
    tmp_path: Path, backend: Backend
) -> None:
    """A postableSilence with an id replaces that silence; a bad regex is a 400 naming it;
    an unknown id is a 404."""
    with serve(tmp_path, **backend.settings()) as client:
        body = {
            "matchers": [{"name": "team", "value": "db", "isRegex": False, "isEqual": False}],
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": datetime.fromtimestamp(time.time() + 7200, UTC).isoformat(),
            "createdBy": "grafana",
            "comment": "",
        }
        made = client.post("/api/v2/silences", json=body)
        assert made.status_code == 200, made.text
        silence_id = made.json()["silenceID"]
        body |= {"id": silence_id, "comment": "longer"}
        assert client.post("/api/v2/silences", json=body).json() == {"silenceID": silence_id}
        shown = client.get(f"/api/v2/silence/{silence_id}").json()
        assert shown["comment"] == "longer"
        assert shown["matchers"][0]["isEqual"] is False
        assert client.get("/api/silences").json()["silences"][0]["matchers"] == ['team!="db"']
        bad = {**body, "id": None, "matchers": [{"name": "a", "value": "((", "isRegex": True}]}
        refused = client.post("/api/v2/silences", json=bad)
        assert refused.status_code == 400
        assert "a=~" in refused.json()["detail"]
        unknown = client.post("/api/v2/silences", json={**body, "id": "nope"})
        assert unknown.status_code == 404
        assert client.delete(f"/api/v2/silence/{silence_id}").status_code == 200
        assert client.get(f"/api/v2/silence/{silence_id}").json()["status"]["state"] == "expired"
