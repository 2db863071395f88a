"""Acknowledge buttons in Slack messages (a Slack app's signing secret set): the message
carries them, and a click Slack signs and posts to /slack/interactions acknowledges;
unsigned, wrongly signed or replayed clicks are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from oncallkit import fire
from providers.slack import FakeSlack
from service import serve
from stores import Backend

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def routes(slack: FakeSlack, signing: str = f'signing_secret: "{SECRET}"') -> str:
    return f"""\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  ops: {{ type: slack, url: "{slack.base_url}{slack.hook_path()}", {signing} }}
routes:
  - matchers: ['source="alertmanager"']
    to: [ops]
"""


def click(
    client: httpx.Client, token: str, secret: str = SECRET, at: float | None = None
) -> httpx.Response:
    """Post a button click as Slack does: form-encoded payload, signed v0."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0AB", "username": "erin", "name": "erin"},
        "actions": [{"action_id": "signalbox-ack-0", "type": "button", "value": token}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time() if at is None else at))
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": f"v0={mac.hexdigest()}",
    }
    return client.post("/slack/interactions", content=body, headers=headers)


def buttons(slack: FakeSlack) -> list[dict[str, Any]]:
    blocks = json.loads(slack.requests[0].body)["blocks"]
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def wait_for(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_a_signed_click_on_the_button_acknowledges_and_the_channel_hears_of_it(
    tmp_path: Path, backend: Backend, fake_slack: FakeSlack
) -> None:
    """The page has one Acknowledge button carrying the event's token; refused clicks
    (wrong secret, five minutes old, altered token) change nothing; a good one
    acknowledges as the Slack user, and the channel is told."""
    fake_slack.per_minute = 1000
    with serve(tmp_path, routes(fake_slack), **backend.settings()) as client:
        event_id = fire(client, instance="db1")
        wait_for(lambda: fake_slack.requests)
        [button] = buttons(fake_slack)
        assert button["text"]["text"] == "Acknowledge"
        token = button["value"]
        assert click(client, token, secret="wrong").status_code == 401
        assert click(client, token, at=time.time() - 600).status_code == 401
        altered = click(client, token[:-1] + ("A" if token[-1] != "A" else "B"))
        assert "not acknowledged" in altered.json()["text"]
        events = client.get("/api/events").json()["events"]
        assert next(e for e in events if e["id"] == event_id)["ack"] is None
        done = click(client, token)
        assert done.status_code == 200, done.text
        assert done.json()["text"] == "acknowledged by erin"
        events = client.get("/api/events").json()["events"]
        assert next(e for e in events if e["id"] == event_id)["ack"]["by"] == "erin"
        wait_for(lambda: len(fake_slack.requests) == 2)
    assert fake_slack.texts()[1].startswith("Acknowledged by erin")


def test_without_a_signing_secret_there_are_no_buttons_and_clicks_are_refused(
    tmp_path: Path, backend: Backend, fake_slack: FakeSlack
) -> None:
    """A Slack channel without the app's signing secret gets no buttons, and nothing
    posted to /slack/interactions is taken."""
    with serve(tmp_path, routes(fake_slack, signing=""), **backend.settings()) as client:
        fire(client, instance="db1")
        wait_for(lambda: fake_slack.requests)
        assert buttons(fake_slack) == []
        assert click(client, "x.1.y", secret="").status_code == 401
