"""Real fixture webhooks posted to a served Signalbox, for the console's browser tests and
its screenshots: signed as each source signs, optionally reshaped (a run number, a time,
a Chinese summary) the way a later run of the same pipeline would differ."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fixtures import load
from service import AUTH

GITHUB_SECRET = b"gh-secret"
# The `sources:` of tests/service.py's LOG_ONLY, to head a routes.yaml with other channels;
# braces doubled, as the rest of such a file is filled in with str.format.
SOURCES = """\
sources:
  github: {{ secret: "gh-secret" }}
  gitlab: {{ token: "gl-token" }}
  jenkins: {{ token: "jk-token" }}
  alertmanager: {{ token: "am-token" }}
"""
# A DingTalk robot (a fake one's URL filled in) gets GitHub failures; the rest: stdout.
DING_ROUTES = (
    SOURCES
    + """\
channels:
  stdout: {{ type: log }}
  cn-ding: {{ type: dingtalk, url: "{url}" }}
routes:
  - matchers: ['source="github"', 'status="failure"']
    to: [cn-ding]
fallback: [stdout]
"""
)
RUN_FAILED = "github/workflow_run.completed.failure.json"
RUN_SUCCEEDED = "github/workflow_run.completed.success.json"
PIPELINE_SUCCEEDED = "gitlab/pipeline_hook.success.json"
JENKINS_DONE = "jenkins/notification_plugin.completed.success.json"
ALERTS_FIRING = "alertmanager/firing.multi.v4_fingerprint.json"

Reshape = Callable[[Any], None]


def post(client: httpx.Client, source: str, name: str, reshape: Reshape | None = None) -> Any:
    """POST fixture `name` to /hooks/<source> with its recorded headers; returns the JSON answer."""
    fixture = load(name)
    body = fixture.body
    if reshape is not None:
        payload = json.loads(body)
        reshape(payload)
        body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"content-type": "application/json", **fixture.headers, **AUTH.get(source, {})}
    if source == "github":
        digest = hmac.new(GITHUB_SECRET, body, hashlib.sha256).hexdigest()
        headers["x-hub-signature-256"] = f"sha256={digest}"
    answer = client.post(f"/hooks/{source}", content=body, headers=headers)
    assert answer.status_code in (200, 202), answer.text
    return answer.json()


def dead_delivery(client: httpx.Client, within: float = 10.0) -> str:
    """The id of the first delivery to die (a GitHub failure to a revoked DingTalk robot)."""
    deadline = time.monotonic() + within
    while not (dead := client.get("/api/deliveries?state=dead").json()["deliveries"]):
        assert time.monotonic() < deadline, "the delivery never died"
        time.sleep(0.05)
    return str(dead[0]["id"])


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def github_run(number: int, finished: datetime, ok: bool, workflow: str | None = None) -> Reshape:
    """A later run of the fixture's workflow: its own id, number and times."""

    def reshape(payload: Any) -> None:
        run = payload["workflow_run"]
        run["id"] = 9_000_000 + number
        run["run_number"] = number
        run["run_attempt"] = 1
        run["conclusion"] = "success" if ok else "failure"
        run["run_started_at"] = _stamp(finished - timedelta(minutes=3, seconds=number % 50))
        run["updated_at"] = _stamp(finished)
        if workflow is not None:
            run["name"] = workflow
            payload["workflow"]["name"] = workflow

    return reshape


def gitlab_pipeline(number: int, finished: datetime, ok: bool) -> Reshape:
    def reshape(payload: Any) -> None:
        attrs = payload["object_attributes"]
        attrs["status"] = attrs["detailed_status"] = "success" if ok else "failed"
        attrs["id"] = 60_000 + number
        attrs["iid"] = number
        attrs["finished_at"] = finished.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        attrs["created_at"] = (finished - timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S UTC")

    return reshape


def chinese_alert(payload: Any) -> None:
    """The fixture's alerts as a team in Shanghai writes them: summaries in Chinese."""
    for alert in payload["alerts"]:
        alert["annotations"]["summary"] = "数据库主节点 CPU 温度过高（华东一区）"
    payload["commonAnnotations"]["summary"] = "数据库主节点 CPU 温度过高（华东一区）"


def seed_history(client: httpx.Client, now: datetime) -> None:
    """A week of runs from three sources so the board has sparklines and streaks."""
    # GitHub: a Chinese-named workflow, green most of the week, broken for its last 3 runs.
    outcomes = [True, True, False, True, True, True, True, False, True, True, True, True]
    outcomes += [True, True, False, True, False, False, False]
    for number, ok in enumerate(outcomes, start=100):
        hours_ago = (len(outcomes) + 99 - number) * 8.5
        finished = now - timedelta(hours=hours_ago)
        post(client, "github", RUN_SUCCEEDED, github_run(number, finished, ok, "构建与测试"))
    # GitLab: steady, one failure two days ago, fixed since.
    for i in range(10):
        finished = now - timedelta(hours=160 - i * 17)
        post(client, "gitlab", PIPELINE_SUCCEEDED, gitlab_pipeline(i, finished, ok=i != 7))
    post(client, "jenkins", JENKINS_DONE)


def seed_feed(client: httpx.Client) -> None:
    """The newest events: every source, a failure, and a Chinese alert summary."""
    post(client, "alertmanager", ALERTS_FIRING, chinese_alert)
    post(client, "github", RUN_FAILED)
