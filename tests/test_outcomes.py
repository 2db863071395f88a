"""GET /api/events answers "why did nobody get this?" per receiver, over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from providers.webhook import FakeReceiver
from service import alert, alertmanager_body, serve, wait_until

AUTH = {"authorization": "Bearer am-token"}


def routes(receiver: FakeReceiver) -> str:
    return f"""\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  sink: {{ type: webhook, url: "{receiver.base_url}/in" }}
  night: {{ type: webhook, url: "{receiver.base_url}/night" }}
defaults:
  dedup_window: 5m
routes:
  - matchers: ['alertname="Backup"']
    to: [night]
    mute_when: [always]
  - matchers: ['source="alertmanager"']
    to: [sink]
time_intervals:
  - name: always
    time_intervals:
      - weekdays: ['monday:sunday']
inhibit_rules:
  - source_matchers: ['alertname="ClusterDown"']
    target_matchers: ['alertname!="ClusterDown"']
    equal: [cluster]
"""


def story(client: httpx.Client, alertname: str) -> list[list[dict[str, Any]]]:
    """The outcomes of each stored event of `alertname`, oldest event first."""
    events = client.get("/api/events", params={"limit": 100}).json()["events"]
    return [e["outcomes"] for e in reversed(events) if e["labels"]["alertname"] == alertname]


def test_each_receiver_outcome_is_told_with_its_cause(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """Delivered (with the delivery id), deduplicated (by which event), inhibited (by which
    event), muted (by which interval): each is in the event's outcomes."""
    with serve(tmp_path, routes(fake_receiver)) as client:

        def post(*alerts: dict[str, Any]) -> list[str]:
            answer = client.post(
                "/hooks/alertmanager", json=alertmanager_body(*alerts), headers=AUTH
            )
            assert answer.status_code == 202, answer.text
            ids: list[str] = answer.json()["event_ids"]
            return ids

        [down] = post(alert("ClusterDown", cluster="c1"))
        post(alert("PodCrash", cluster="c1"))
        [first_disk] = post(alert("DiskFull", cluster="c2"))
        post(alert("DiskFull", cluster="c2"))
        post(alert("Backup", cluster="c3"))
        wait_until(lambda: len(fake_receiver.requests) == 2)
        time.sleep(0.3)

        [[down_sent]] = story(client, "ClusterDown")
        sent_ids = {d["id"] for d in client.get("/api/deliveries").json()["deliveries"]}
        assert down_sent["outcome"] == "sent" and down_sent["receiver"] == "sink"
        assert down_sent["delivery_id"] in sent_ids

        [[inhibited]] = story(client, "PodCrash")
        assert inhibited["outcome"] == "suppressed" and inhibited["stage"] == "inhibit"
        assert inhibited["detail"] == f"inhibited by event {down} under inhibit_rules[0]"

        [[told], [duplicate]] = story(client, "DiskFull")
        assert told["outcome"] == "sent"
        assert duplicate["stage"] == "dedup" and first_disk in duplicate["detail"]

        [[muted]] = story(client, "Backup")
        assert muted == {
            **muted,
            "receiver": "night",
            "outcome": "suppressed",
            "stage": "mute",
            "detail": "route 0 muted: mute_when always is active",
        }


def test_a_retrying_delivery_shows_its_next_attempt_in_api_and_console(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """While a receiver is down, the delivery is `failed` with the time of its next attempt,
    in GET /api/deliveries, in the event's outcomes and on the console's deliveries page."""
    fake_receiver.down_for(60)
    with serve(tmp_path, routes(fake_receiver)) as client:
        body = alertmanager_body(alert("DiskFull", cluster="c9"))
        assert client.post("/hooks/alertmanager", json=body, headers=AUTH).status_code == 202

        def failed() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = client.get("/api/deliveries?state=failed").json()[
                "deliveries"
            ]
            return found

        wait_until(failed)
        [delivery] = failed()
        assert delivery["next_attempt_at"] > time.time()
        [[outcome]] = story(client, "DiskFull")
        assert outcome["outcome"] == "failed"
        assert outcome["next_attempt_at"] == delivery["next_attempt_at"]
        page = client.get("/ui/deliveries?state=failed").text
        assert "next attempt" in page
