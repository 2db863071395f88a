"""POST /hooks/* over real HTTP: every payload fixture, and every way a post can be refused."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures import fixture_files, load
from service import serve

# The published secret the GitHub captures were signed with (and the GitLab capture's token).
CAPTURE_SECRET = "402786017574bd28f9d8f7a18648939751c47fe09077d56e10f0444f14fbb73b"

ROUTES = f"""\
sources:
  github: {{ secret: "{CAPTURE_SECRET}" }}
  gitlab: {{ token: "{CAPTURE_SECRET}" }}
  jenkins: {{ token: "jk-token" }}
  alertmanager: {{ token: "am-token" }}
  grafana: {{ token: "gf-token" }}
channels:
  stdout: {{ type: log }}
routes:
  - matchers: ['status=~"failure|unstable"']
    to: [stdout]
fallback: [stdout]
"""

BEARER = {
    "jenkins": "Bearer jk-token",
    "alertmanager": "Bearer am-token",
    "grafana": "Bearer gf-token",
}

# What each fixture must get: 202 with this many events, 200 ignored, or 400.
IGNORED = {
    "github/ping.json",
    "github/ping.with_app_id.json",
    "github/push.branch_with_commit.json",
    "github/push.tag_deleted.json",
    "gitlab/push_hook.json",
    "gitlab/captures/merge_request_hook.capture.json",
}
REFUSED = {
    "jenkins/office365_connector.messagecard.started.json",
    "jenkins/office365_connector.messagecard.completed-success.json",
    "jenkins/office365_connector.messagecard.completed-failed.json",
}
ALERT_COUNTS = {
    "alertmanager/firing.multi.v4_fingerprint.json": 2,
    "alertmanager/firing.multi.v4_2019_no_fingerprint.json": 3,
    "alertmanager/resolved.multi.v4_2019_no_fingerprint.json": 3,
    "alertmanager/resolved.single.v4_truncatedAlerts.json": 1,
    "grafana/firing.single.v11_values.json": 1,
    "grafana/resolved.single.v9.json": 1,
    "grafana/firing.mixed_resolved.v9.json": 3,
}
ALL = sorted(
    name
    for source in ("github", "gitlab", "jenkins", "alertmanager", "grafana")
    for name in fixture_files(source)
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with serve(tmp_path_factory.mktemp("hooks"), ROUTES, max_body_bytes=64 * 1024) as c:
        yield c


def signed_headers(name: str, body: bytes, delivery: str) -> dict[str, str]:
    """The headers a real sender of this fixture sends, with fresh per-delivery values."""
    fixture = load(name)
    source = name.split("/", 1)[0]
    headers = {"content-type": "application/json", **fixture.headers}
    if "captures/" in name:
        return headers  # recorded exactly as the sender sent them, signature included
    if source == "github":
        mac = hmac.new(CAPTURE_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers |= {"x-hub-signature-256": f"sha256={mac}", "x-github-delivery": delivery}
    elif source == "gitlab":
        headers |= {"x-gitlab-token": CAPTURE_SECRET, "idempotency-key": delivery}
    else:
        headers["authorization"] = BEARER[source]
    return headers


def post(client: httpx.Client, name: str, delivery: str = "d-1") -> httpx.Response:
    body = load(name).body
    source = name.split("/", 1)[0]
    return client.post(
        f"/hooks/{source}", content=body, headers=signed_headers(name, body, delivery)
    )


def test_every_fixture_is_covered() -> None:
    """The expectations above name every fixture file there is."""
    assert set(ALL) >= IGNORED | REFUSED | set(ALERT_COUNTS)
    assert len(ALL) >= 40


@pytest.mark.parametrize("name", ALL)
def test_fixture_gets_its_documented_answer(client: httpx.Client, name: str) -> None:
    """Each real payload is accepted and listed with labels, or ignored/refused with a reason."""
    response = post(client, name, delivery=f"first-{name}")
    if name in IGNORED:
        assert response.status_code == 200, response.text
        assert response.json()["ignored"]
        return
    if name in REFUSED:
        assert response.status_code == 400, response.text
        assert "Office 365" in response.json()["detail"]
        return
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == ALERT_COUNTS.get(name, 1) == len(answer["event_ids"])
    source = name.split("/", 1)[0]
    listed = client.get("/api/events", params={"source": source, "limit": 1000}).json()["events"]
    by_id = {e["id"]: e for e in listed}
    for event_id in answer["event_ids"]:
        event = by_id[event_id]
        assert event["labels"]["source"] == source
        assert event["labels"]["kind"] in {"pipeline", "job", "deployment", "alert"}
        assert event["routing"]["receivers"] == ["stdout"]
        failed = event["labels"]["status"] in {"failure", "unstable"}
        assert event["routing"]["routes"] == (["0"] if failed else [])


def test_redelivery_is_ignored_as_duplicate(client: httpx.Client) -> None:
    """A sender retrying the same delivery id gets 200 ignored and nothing is stored twice."""
    name = "github/workflow_run.completed.failure.json"
    first = post(client, name, delivery="dup-1")
    again = post(client, name, delivery="dup-1")
    assert first.status_code == 202
    assert again.status_code == 200
    assert "duplicate" in again.json()["ignored"]
    fresh = post(client, name, delivery="dup-2")
    assert fresh.status_code == 202


def test_pipeline_labels_come_from_history(client: httpx.Client) -> None:
    """Posting one GitHub failure twice as two runs makes the second `still_failing`."""
    name = "github/workflow_run.completed.failure.json"
    body = load(name).payload
    ids = []
    for run in (900001, 900002):
        body["workflow_run"]["id"] = run
        body["workflow_run"]["run_number"] = run
        raw = httpx.Request("POST", "/", json=body).content
        response = client.post(
            "/hooks/github", content=raw, headers=signed_headers(name, raw, f"run-{run}")
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["event_ids"][0])
    events = {e["id"]: e for e in client.get("/api/events?limit=1000").json()["events"]}
    second = events[ids[1]]["labels"]
    assert second["transition"] == "still_failing"
    assert int(second["failure_streak"]) >= 2


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        ("github", {"x-github-event": "workflow_run", "x-hub-signature-256": "sha256=00"}),
        ("github", {"x-github-event": "workflow_run"}),
        ("gitlab", {"x-gitlab-event": "Pipeline Hook", "x-gitlab-token": "wrong"}),
        ("jenkins", {"authorization": "Bearer wrong"}),
        ("alertmanager", {"authorization": "Basic YTpi"}),
        ("grafana", {"authorization": "Bearer am-token"}),
    ],
)
def test_bad_credentials_get_401(
    client: httpx.Client, source: str, headers: dict[str, str]
) -> None:
    """A wrong or missing signature or token is refused with 401 and stores nothing."""
    before = len(client.get("/api/events?limit=1000").json()["events"])
    response = client.post(
        f"/hooks/{source}",
        content=b'{"a": 1}',
        headers={"content-type": "application/json", **headers},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert len(client.get("/api/events?limit=1000").json()["events"]) == before


def test_malformed_json_gets_400_with_the_reason(client: httpx.Client) -> None:
    """Broken JSON is refused with where it broke."""
    response = client.post(
        "/hooks/alertmanager",
        content=b'{"version": "4", "alerts": [}',
        headers={"content-type": "application/json", "authorization": "Bearer am-token"},
    )
    assert response.status_code == 400
    assert "line 1 column" in response.json()["detail"]


def test_byte_order_mark_is_accepted_and_bad_utf8_refused(client: httpx.Client) -> None:
    """A UTF-8 BOM before the JSON is fine; a byte that is not UTF-8 is a 400 saying where."""
    headers = {"content-type": "application/json", "authorization": "Bearer am-token"}
    body = load("alertmanager/resolved.single.v4_truncatedAlerts.json").body
    with_bom = client.post("/hooks/alertmanager", content=b"\xef\xbb\xbf" + body, headers=headers)
    assert with_bom.status_code == 202, with_bom.text
    bad = body.replace(b'"resolved"', b'"resolv\xffed"', 1)
    refused = client.post("/hooks/alertmanager", content=bad, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"] == "malformed body"
    assert "not UTF-8" in refused.json()["detail"]


def test_broken_json_of_an_ignored_event_still_gets_400(client: httpx.Client) -> None:
    """An event type we ignore is still refused when its body is not JSON."""
    body = b'{"zen": "Keep it logically awesome.",'
    headers = signed_headers("github/ping.json", body, "broken-ping")
    response = client.post("/hooks/github", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed JSON"
    assert "line 1 column" in response.json()["detail"]


def test_wrong_shape_gets_400_naming_it(client: httpx.Client) -> None:
    """Valid JSON of the wrong shape is refused with what was wrong."""
    response = client.post(
        "/hooks/alertmanager",
        json={"version": "3", "alerts": []},
        headers={"authorization": "Bearer am-token"},
    )
    assert response.status_code == 400
    assert "4" in response.json()["detail"]


def test_not_json_gets_415(client: httpx.Client) -> None:
    """A body that is not declared JSON is refused with 415 and how to fix it."""
    response = client.post(
        "/hooks/jenkins",
        content=b"name=x",
        headers={"content-type": "text/plain", "authorization": "Bearer jk-token"},
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_oversized_body_gets_413(client: httpx.Client) -> None:
    """A body over the limit is refused, declared or streamed without a length."""
    big = b'{"pad": "' + b"x" * (70 * 1024) + b'"}'
    headers = {"content-type": "application/json", "authorization": "Bearer am-token"}
    assert client.post("/hooks/alertmanager", content=big, headers=headers).status_code == 413

    def endless() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(10_000):
            yield b"x" * 1024

    streamed = client.post("/hooks/alertmanager", content=endless(), headers=headers)
    assert streamed.status_code == 413


def test_unknown_source_gets_404(client: httpx.Client) -> None:
    """Posting to a source that does not exist names the ones that do."""
    response = client.post("/hooks/travis", json={})
    assert response.status_code == 404
    assert "github" in response.json()["detail"]


def test_other_methods_and_deeper_paths_are_left_to_the_router(client: httpx.Client) -> None:
    """Only POST /hooks/{source} takes the fast path: GET is 405, a deeper path 404."""
    wrong_method = client.get("/hooks/alertmanager")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert client.post("/hooks/alertmanager/extra", json={}).status_code == 404
    assert client.post("/hooks/", json={}).status_code == 404


def test_sender_hanging_up_mid_body_is_logged_not_a_crash(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender that closes before its declared body ends gets a warning line, no traceback."""
    caplog.set_level(logging.INFO)
    url = httpx.URL(str(client.base_url))
    with socket.create_connection((url.host, url.port)) as raw:
        raw.sendall(
            b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer am-token\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"vers'
        )
    deadline = time.monotonic() + 5
    while "webhook sender hung up before its body ended" not in caplog.messages:
        assert time.monotonic() < deadline, caplog.messages
        time.sleep(0.05)
    assert not [r for r in caplog.records if r.exc_info], "no traceback logged"
    assert client.get("/healthz").status_code == 200


def test_github_form_encoded_delivery_is_understood(client: httpx.Client) -> None:
    """GitHub's application/x-www-form-urlencoded content type (payload=<json>) works."""
    name = "github/workflow_run.completed.success.json"
    form = httpx.Request("POST", "/", data={"payload": load(name).body.decode()}).content
    headers = signed_headers(name, form, "form-1")
    headers["content-type"] = "application/x-www-form-urlencoded"
    response = client.post("/hooks/github", content=form, headers=headers)
    assert response.status_code == 202, response.text


def test_events_listing_filters(client: httpx.Client) -> None:
    """GET /api/events filters by source and status and validates its parameters."""
    post(client, "alertmanager/resolved.single.v4_truncatedAlerts.json")
    resolved = client.get("/api/events", params={"status": "resolved"}).json()["events"]
    assert resolved and all(e["labels"]["status"] == "resolved" for e in resolved)
    bad = client.get("/api/events", params={"limit": 0})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid request"


def test_store_that_cannot_commit_answers_503(tmp_path: Path) -> None:
    """When the event cannot be stored the sender is told to retry (503), never 2xx."""
    with serve(tmp_path, ROUTES, db_busy_timeout=0.2) as client:
        blocker = sqlite3.connect(tmp_path / "data" / "signalbox.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            response = post(client, "alertmanager/firing.multi.v4_fingerprint.json")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert response.status_code == 503
        assert response.json()["error"] == "store unavailable"
        again = post(client, "alertmanager/firing.multi.v4_fingerprint.json")
        assert again.status_code == 202
