"""A storm of 1,000 alerts to one DingTalk robot at its real limit of 20 messages a minute."""

from __future__ import annotations

import re
import time
from pathlib import Path

from busharness import max_in_any_window
from providers.dingtalk import FakeDingTalk
from service import serve

AUTH = {"authorization": "Bearer am-token"}


def storm_post(batch: int) -> dict[str, object]:
    """One Alertmanager post of 100 distinct critical alerts."""
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "DiskFull",
                "instance": f"db-{batch}-{i}",
                "severity": "critical",
            },
            "annotations": {"summary": f"磁盘已满 db-{batch}-{i}"},
            "startsAt": "2026-11-24T03:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{batch:04d}{i:04d}",
        }
        for i in range(100)
    ]
    return {
        "version": "4",
        "status": "firing",
        "receiver": "ding",
        "groupKey": "{}:{}",
        "alerts": alerts,
    }


def test_storm_respects_twenty_per_minute_and_accounts_for_every_alert(
    tmp_path: Path, fake_dingtalk: FakeDingTalk
) -> None:
    """At most 20 messages a minute, never a 'send too fast' from the robot, and digests
    that account for every one of the 1,000 alerts."""
    robot = f"{fake_dingtalk.base_url}{fake_dingtalk.robot('storm')}"
    routes = f"""\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  ding: {{ type: dingtalk, url: "{robot}" }}
routes:
  - matchers: ['severity="critical"']
    to: [ding]
"""
    with serve(tmp_path, routes) as client:
        started = time.monotonic()
        for batch in range(10):
            response = client.post("/hooks/alertmanager", json=storm_post(batch), headers=AUTH)
            assert response.status_code == 202
        told: list[str] = []
        while len(told) < 1000 and time.monotonic() - started < 130:
            time.sleep(0.5)
            sent = client.get("/api/deliveries", params={"state": "sent", "limit": 1000}).json()
            told = [i for d in sent["deliveries"] for i in d["event_ids"]]
        elapsed = time.monotonic() - started
        everything = client.get("/api/deliveries", params={"limit": 1000}).json()["deliveries"]
    arrivals = [r.at for r in fake_dingtalk.requests]
    assert max_in_any_window(arrivals, 60.0) <= 20, (len(arrivals), elapsed)
    assert len(told) == len(set(told)) == 1000, "every alert told exactly once"
    details = [a["detail"] for d in everything for a in d["attempts"]]
    assert not [d for d in details if "130101" in d], "the robot never said 'send too fast'"
    digests = [d for d in sent["deliveries"] if d["route"] == "digest"]
    assert digests and all(d["folded"] > 0 for d in digests)
    titles = [r.json()["markdown"]["title"] for r in fake_dingtalk.requests]
    # The robot speaks Chinese by default: "汇总：限流期间共 15 条事件" (or "Digest: 15 events").
    digest_title = re.compile(r"(?:Digest: |汇总：限流期间共 )(\d+)")
    counted = sorted(int(m[1]) for t in titles if (m := digest_title.match(t)))
    assert counted == sorted(len(d["event_ids"]) for d in digests), titles
