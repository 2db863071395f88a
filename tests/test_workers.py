"""`signalbox serve --workers N`: N processes on one port, each a replica on PostgreSQL,
a dead one started again by the parent, all of them stopped by one SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from pgserver import PgServer
from process import free_port, serve_command, signalbox
from providers.webhook import FakeReceiver

ROUTES = """\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  sink-a: {{ type: webhook, url: "{url}/a" }}
  sink-b: {{ type: webhook, url: "{url}/b" }}
  sink-c: {{ type: webhook, url: "{url}/c" }}
  sink-d: {{ type: webhook, url: "{url}/d" }}
routes:
  - matchers: ['source="alertmanager"']
    to: [sink-a, sink-b, sink-c, sink-d]
"""
LEASES = {"SIGNALBOX_LEASE_TTL": "3", "SIGNALBOX_LEASE_RENEW": "0.5"}


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def post_alerts(port: int, first: int, count: int) -> list[str]:
    """One webhook per alert, on fresh connections so the kernel spreads them out."""
    ids = []
    for n in range(first, first + count):
        alert = {
            "status": "firing",
            "labels": {"alertname": "Workers", "instance": f"host-{n}"},
            "annotations": {},
            "startsAt": "2026-12-01T03:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"w{n:04d}",
        }
        body = {"version": "4", "status": "firing", "receiver": "x", "groupKey": "{}",
                "alerts": [alert]}  # fmt: skip
        answer = httpx.post(
            f"http://127.0.0.1:{port}/hooks/alertmanager",
            json=body,
            headers={"authorization": "Bearer am-token"},
        )
        assert answer.status_code == 202, answer.text
        ids.extend(answer.json()["event_ids"])
    return ids


def received(fake_receiver: FakeReceiver, path: str) -> list[str]:
    return [e["id"] for r in fake_receiver.requests if r.path == path for e in r.json()["events"]]


def test_workers_need_postgresql(tmp_path: Path) -> None:
    """--workers on the SQLite store refuses to start (exit 2) and says why: a SQLite
    file belongs to one process."""
    (tmp_path / "routes.yaml").write_text(ROUTES.format(url="http://127.0.0.1:9"), "utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SIGNALBOX_DATABASE_URL"}
    done = subprocess.run(
        [
            *serve_command(tmp_path / "routes.yaml", free_port(), "--data-dir", str(tmp_path)),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--workers needs PostgreSQL" in done.stderr


def test_workers_share_the_port_and_a_dead_one_is_started_again(
    tmp_path: Path, pg_server: PgServer, fake_receiver: FakeReceiver
) -> None:
    """Two workers answer on one port as two replicas sharing the receivers; one killed
    with SIGKILL is started again under its own name and takes its receivers back; every
    alert posted before and after reaches every receiver once; SIGTERM to the parent stops
    them all."""
    url = pg_server.database()
    (tmp_path / "routes.yaml").write_text(ROUTES.format(url=fake_receiver.base_url), "utf-8")
    port = free_port()
    env = {"SIGNALBOX_DATABASE_URL": url, **LEASES}

    def owners() -> set[str]:
        with psycopg.connect(url) as db:
            return {row[0] for row in db.execute("SELECT owner FROM leases").fetchall()}

    with signalbox(tmp_path, port, env, ("--workers", "2")) as parent:
        assert wait_for(lambda: len(children_of(parent.pid)) == 2, 10)
        assert wait_for(lambda: len(owners()) == 2, 20), owners()
        assert {o.rsplit("/", 1)[1] for o in owners()} == {"0", "1"}
        accepted = post_alerts(port, 0, 20)

        def everyone_told() -> bool:
            return all(sorted(received(fake_receiver, f"/{r}")) == sorted(accepted) for r in "abcd")

        assert wait_for(everyone_told, 60), {
            r: len(received(fake_receiver, f"/{r}")) for r in "abcd"
        }
        victim = min(children_of(parent.pid))
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: len(children_of(parent.pid) - {victim}) == 2, 30)
        accepted += post_alerts(port, 20, 20)
        assert wait_for(everyone_told, 60), {
            r: len(received(fake_receiver, f"/{r}")) for r in "abcd"
        }
        assert wait_for(lambda: len(owners()) == 2, 20), owners()
        workers = children_of(parent.pid)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
