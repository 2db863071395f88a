"""The CLI against a running server (as amtool is used): silences, acks, events,
deliveries and retries, with the token from the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from app.cli import cli
from oncallkit import paging_routes
from providers.webhook import FakeReceiver
from service import AUTH, alert, alertmanager_body, serve, wait_until
from stores import Backend

runner = CliRunner()


def test_silence_ack_and_listing_commands_drive_a_running_server(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """`silence add` quiets the next DiskFull, `silence query` lists it, `silence expire`
    ends it; `ack` acknowledges an event, which `events` then shows; a wrong token exits 1
    saying why."""
    settings = {"api_token": "api-secret", **backend.settings()}
    with serve(tmp_path, paging_routes(fake_receiver), **settings) as client:
        env = {"SIGNALBOX_URL": str(client.base_url), "SIGNALBOX_API_TOKEN": "api-secret"}

        def run(*args: str) -> str:
            result = runner.invoke(cli, list(args), env=env)
            assert result.exit_code == 0, result.output
            return result.output

        silence_id = run(
            "silence", "add", 'alertname="DiskFull"', "-d", "2h", "-a", "alice", "-c", "move"
        ).strip()
        listed = run("silence", "query", "--state", "active")
        assert silence_id in listed
        assert 'alertname="DiskFull"' in listed
        assert "alice" in listed
        body = alertmanager_body(alert("DiskFull"), alert("HighLoad"))
        answer = client.post("/hooks/alertmanager", json=body, headers=AUTH["alertmanager"])
        quiet, loud = answer.json()["event_ids"]
        wait_until(lambda: fake_receiver.requests)
        acked = run("ack", loud, "--by", "bob", "--comment", "mine")
        assert acked.startswith("acknowledged by bob")
        table = run("events").splitlines()
        assert table[0].split() == [
            "ID",
            "RECEIVED",
            "SOURCE",
            "STATUS",
            "TITLE",
            "ACK",
            "SILENCED",
        ]
        rows = {line.split()[0]: line for line in table[1:]}
        assert f"silenced by {silence_id}" in rows[quiet]
        assert " bob" in rows[loud]
        shown = json.loads(run("events", "--json"))
        assert {e["id"]: (e["ack"] or {}).get("by") for e in shown["events"]}[loud] == "bob"
        assert run("silence", "expire", silence_id).strip() == f"expired {silence_id}"
        assert silence_id in run("silence", "query", "--state", "expired")
        assert "sent" in run("deliveries")
        refused = runner.invoke(cli, ["events"], env={**env, "SIGNALBOX_API_TOKEN": "wrong"})
        assert refused.exit_code == 1
        assert "unauthorized" in refused.output


def test_retry_all_dead_sends_dead_deliveries_again(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """`retry --all-dead` puts every dead delivery back in line, and it is then sent."""
    settings = {"retry_for": 0.5, **backend.settings()}
    with serve(tmp_path, paging_routes(fake_receiver), **settings) as client:
        env = {"SIGNALBOX_URL": str(client.base_url)}
        fake_receiver.down_for(60)
        body = alertmanager_body(alert("DiskFull"))
        client.post("/hooks/alertmanager", json=body, headers=AUTH["alertmanager"])

        def listed_as(state: str) -> list[dict[str, Any]]:
            answer = client.get("/api/deliveries", params={"state": state})
            return list(answer.json()["deliveries"])

        wait_until(lambda: listed_as("dead"), within=10)
        [delivery] = listed_as("dead")
        listed = runner.invoke(cli, ["deliveries", "--state", "dead"], env=env)
        assert delivery["id"] in listed.output
        fake_receiver.reset()
        result = runner.invoke(cli, ["retry", "--all-dead"], env=env)
        assert result.exit_code == 0, result.output
        assert f"retrying {delivery['id']}" in result.output
        wait_until(lambda: listed_as("sent"), within=10)
