"""The real `signalbox serve` on PostgreSQL (SIGNALBOX_DATABASE_URL): webhooks accepted and
shared by replicas, 503 and not ready while the database is down, a newer schema refused."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import psycopg

from app.store.postgres_schema import migrate
from fixtures import load, payload
from pgserver import PgServer
from process import free_port, serve_command, signalbox
from providers.webhook import FakeReceiver

ROUTES = """\
sources:
  gitlab: { token: "gl-token" }
  alertmanager: { token: "am-token" }
channels:
  stdout: { type: log }
fallback: [stdout]
"""
ALERTMANAGER = {"authorization": "Bearer am-token"}


def replica(tmp_path: Path, name: str) -> Path:
    """A replica's own folder (routes.yaml, data dir, log): only the database is shared."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    return folder


def post_alert(port: int, name: str) -> httpx.Response:
    doc = payload("alertmanager/firing.multi.v4_fingerprint.json")
    doc["alerts"] = doc["alerts"][:1]
    doc["alerts"][0]["labels"]["alertname"] = name
    doc["alerts"][0]["fingerprint"] = name
    url = f"http://127.0.0.1:{port}/hooks/alertmanager"
    return httpx.post(url, json=doc, headers=ALERTMANAGER, timeout=10)


def post_pipeline(port: int, delivery: str) -> httpx.Response:
    sent = load("gitlab/pipeline_hook.failed.json")
    headers = {
        **sent.headers,
        "content-type": "application/json",
        "x-gitlab-token": "gl-token",
        "idempotency-key": delivery,
    }
    return httpx.post(f"http://127.0.0.1:{port}/hooks/gitlab", content=sent.body, headers=headers)


def alertnames(port: int) -> set[str]:
    events = httpx.get(f"http://127.0.0.1:{port}/api/events", params={"limit": 500}).json()
    return {e["labels"]["alertname"] for e in events["events"] if "alertname" in e["labels"]}


def test_replicas_on_one_database_share_what_they_accept(
    tmp_path: Path, pg_server: PgServer
) -> None:
    """Two `signalbox serve` on one PostgreSQL database: an alert posted to either is listed
    by both, and a GitLab delivery posted to both (a sender's retry landing on the other
    replica) is stored once."""
    url = pg_server.database()
    env = {"SIGNALBOX_DATABASE_URL": url}
    first, second = free_port(), free_port()
    with (
        signalbox(replica(tmp_path, "a"), first, env),
        signalbox(replica(tmp_path, "b"), second, env),
    ):
        assert post_alert(first, "FromA").status_code == 202
        assert post_alert(second, "FromB").status_code == 202
        assert alertnames(first) == alertnames(second) == {"FromA", "FromB"}
        answers = [post_pipeline(port, "retry-1").status_code for port in (first, second)]
        assert answers == [202, 200], answers
    assert not (tmp_path / "a" / "data" / "signalbox.db").exists(), "nothing in SQLite"
    log = (tmp_path / "a" / "signalbox.log").read_text()
    started = next(line for line in log.splitlines() if "signalbox started" in line)
    assert url.split("//", 1)[1].split("@", 1)[0] in started  # the user, no password here


SHARED_SINK = """\
sources:
  alertmanager: { token: "am-token" }
channels:
  sink: { type: webhook, url: "{url}/in", rate_limit: { messages: 1000, per: 1s } }
routes:
  - matchers: ['source="alertmanager"']
    to: [sink]
    group_by: [alertname]
    group_wait: 0s
"""


def test_replicas_deliver_each_alert_once(
    tmp_path: Path, pg_server: PgServer, fake_receiver: FakeReceiver
) -> None:
    """Two replicas on one database, one receiver: alerts posted to either are delivered
    once each, by whichever replica holds the receiver's lease (the other wakes it)."""
    env = {"SIGNALBOX_DATABASE_URL": pg_server.database()}
    ports = [free_port(), free_port()]
    folders = [replica(tmp_path, name) for name in ("a", "b")]
    for folder in folders:
        routes = SHARED_SINK.replace("{url}", fake_receiver.base_url)
        (folder / "routes.yaml").write_text(routes, encoding="utf-8")
    with signalbox(folders[0], ports[0], env), signalbox(folders[1], ports[1], env):
        for n in range(10):
            assert post_alert(ports[n % 2], f"Alert{n}").status_code == 202
        deadline = time.monotonic() + 20
        while len(told(fake_receiver)) < 10:
            assert time.monotonic() < deadline, told(fake_receiver)
            time.sleep(0.1)
        time.sleep(1.0)  # nothing more comes
    assert sorted(told(fake_receiver)) == sorted(f"Alert{n}" for n in range(10))


def told(receiver: FakeReceiver) -> list[str]:
    return [e["labels"]["alertname"] for r in receiver.requests for e in r.json()["events"]]


def test_webhooks_get_503_while_the_database_is_down(
    tmp_path: Path, own_pg_server: PgServer
) -> None:
    """While PostgreSQL is stopped a webhook gets 503, /readyz says not ready and the API
    says the store is unavailable (no 500), each at once, while /metrics still serves;
    when it is back they recover without restarting Signalbox."""
    env = {"SIGNALBOX_DATABASE_URL": own_pg_server.database(), "SIGNALBOX_DB_BUSY_TIMEOUT": "2"}
    port = free_port()
    with signalbox(replica(tmp_path, "a"), port, env):
        assert post_alert(port, "Before").status_code == 202
        own_pg_server.stop()
        try:
            started = time.monotonic()
            refused = post_alert(port, "WhileDown")
            assert refused.status_code == 503, refused.text
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["store_writable"] is False
            listed = httpx.get(f"http://127.0.0.1:{port}/api/events")
            assert listed.status_code == 503, listed.text
            assert listed.json()["error"] == "store unavailable"
            assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
            assert time.monotonic() - started < 2.0
        finally:
            own_pg_server.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"http://127.0.0.1:{port}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready again"
            time.sleep(0.1)
        assert post_alert(port, "After").status_code == 202
        assert alertnames(port) == {"Before", "After"}
    log = (tmp_path / "a" / "signalbox.log").read_text()
    assert "database unreachable" in log and "database reachable again" in log


def test_serve_refuses_a_newer_schema(tmp_path: Path, pg_server: PgServer) -> None:
    """`signalbox serve` on a database migrated by a newer Signalbox exits, saying so."""
    url = pg_server.database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, "the test")
        conn.execute("UPDATE schema_version SET version = 42")
    folder = replica(tmp_path, "a")
    done = subprocess.run(
        serve_command(folder / "routes.yaml", free_port(), "--database-url", url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "schema version 42, newer than this Signalbox knows" in done.stdout + done.stderr


def test_serve_refuses_a_database_url_it_cannot_use(tmp_path: Path) -> None:
    """A SIGNALBOX_DATABASE_URL that is not postgresql:// stops `signalbox serve` at once,
    naming the setting, without echoing the URL (it may hold a password)."""
    folder = replica(tmp_path, "a")
    url = "mysql://admin:hunter2@db/signalbox"
    done = subprocess.run(
        serve_command(folder / "routes.yaml", free_port()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SIGNALBOX_DATABASE_URL": url},
    )
    assert done.returncode == 2
    assert "database_url: Value error, must be a postgresql:// URL" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
