"""Real fixture webhooks, signed for service.LOG_ONLY, to feed a running service."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import httpx

from fixtures import load
from service import AUTH

# CI pipelines of three sources, started, failed and fixed, plus a batch of alerts.
FEED = (
    "gitlab/pipeline_hook.running.json",
    "gitlab/pipeline_hook.failed.json",
    "gitlab/pipeline_hook.success.json",
    "jenkins/notification_plugin.completed.success.json",
    "github/workflow_run.completed.failure.json",
    "github/workflow_run.completed.success.json",
    "alertmanager/firing.multi.v4_fingerprint.json",
    # Again: the routes' dedup_window drops it (signalbox_dispatches_dropped_total).
    "alertmanager/firing.multi.v4_fingerprint.json",
)


def post_fixture(client: httpx.Client, name: str, body: bytes | None = None) -> httpx.Response:
    """Post one fixture (or `body` with its headers) with the credentials LOG_ONLY expects."""
    fixture = load(name)
    body = fixture.body if body is None else body
    source = name.split("/", 1)[0]
    headers = {"content-type": "application/json", **fixture.headers, **AUTH.get(source, {})}
    if source == "github":
        mac = hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
        headers |= {"x-hub-signature-256": f"sha256={mac}", "x-github-delivery": str(uuid.uuid4())}
    return client.post(f"/hooks/{source}", content=body, headers=headers)


def feed(client: httpx.Client) -> None:
    """Post every FEED fixture; each must be accepted."""
    for name in FEED:
        answer = post_fixture(client, name)
        assert answer.status_code == 202, (name, answer.text)
