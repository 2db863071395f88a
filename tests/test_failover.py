"""Replicas of `signalbox serve` on one PostgreSQL database, one killed or the database
restarted mid-stream: nothing accepted is lost, nothing told twice but what was in flight
at the kill, every subject in order, every rate limit held across the replicas.

The figures are asserted, printed in pytest's summary and written to
<tmp>/signalbox-failover-figures.json for the release notes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from busharness import max_in_any_window
from pgserver import PgServer
from posting import Stream, wait_until
from process import free_port, signalbox
from providers.server import Recorded
from providers.webhook import FakeReceiver

SUBJECTS = 300  # alerts, each told firing and then resolved
PER_POST = 10
POSTERS = 4
RECEIVERS = ("a", "b", "c", "limited")
# The limited receiver's budget, and the receivers' answer delay (so sends are in flight).
LIMIT, PER = 40, 1.0
DELAY = 0.05
FIGURES = Path(tempfile.gettempdir()) / "signalbox-failover-figures.json"
# Leases short enough for a test: a dead replica's receivers are taken over within ~3 s.
LEASES = {"SIGNALBOX_LEASE_TTL": "3", "SIGNALBOX_LEASE_RENEW": "0.5"}

ROUTES = """\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  sink-a: {{ type: webhook, url: "{url}/a", rate_limit: {{ messages: 100000, per: 1s }} }}
  sink-b: {{ type: webhook, url: "{url}/b", rate_limit: {{ messages: 100000, per: 1s }} }}
  sink-c: {{ type: webhook, url: "{url}/c", rate_limit: {{ messages: 100000, per: 1s }} }}
  sink-limited:
    type: webhook
    url: "{url}/limited"
    rate_limit: {{ messages: {limit}, per: {per:g}s }}
routes:
  - matchers: ['source="alertmanager"']
    to: [sink-a, sink-b, sink-c, sink-limited]
    dedup_window: 0s
"""


def post_body(batch: int) -> dict[str, Any]:
    """PER_POST alerts: the first half of the batches fire them, the second resolve them."""
    status = "firing" if batch < SUBJECTS // PER_POST else "resolved"
    first = (batch % (SUBJECTS // PER_POST)) * PER_POST
    alerts = [
        {
            "status": status,
            "labels": {"alertname": "Failover", "instance": f"host-{n}"},
            "annotations": {},
            "startsAt": "2026-12-01T03:00:00Z",
            "endsAt": "2026-12-01T03:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": f"fp{n:05d}",
        }
        for n in range(first, first + PER_POST)
    ]
    return {"version": "4", "status": status, "receiver": "x", "groupKey": "{}", "alerts": alerts}


def told(requests: list[Recorded], receiver: str) -> list[tuple[str, str, str, str]]:
    """(event id, fingerprint, status, delivery id) of every event the receiver got, in
    arrival order."""
    return [
        (e["id"], e["fingerprint"], e["labels"]["status"], r.json()["delivery_id"])
        for r in requests
        if r.path == f"/{receiver}"
        for e in r.json()["events"]
    ]


def all_told(acked: set[str], url: str) -> bool:
    stored = delivered_per_store(url)
    return all(acked <= stored.get(receiver, set()) for receiver in RECEIVERS)


def delivered_per_store(url: str) -> dict[str, set[str]]:
    """Events each receiver's sent deliveries carried, digests included: a rate-limit
    digest lists ten events and counts the rest, which a receiver cannot show."""
    with psycopg.connect(url) as db:
        rows = db.execute(
            """SELECT d.receiver, de.event_id FROM delivery_events de
               JOIN deliveries d ON d.id = de.delivery_id WHERE d.state = 'sent'"""
        ).fetchall()
    found: dict[str, set[str]] = {}
    for receiver, event_id in rows:
        found.setdefault(receiver.removeprefix("sink-"), set()).add(event_id)
    return found


def figures_of(
    acked: set[str], requests: list[Recorded], stored: dict[str, set[str]]
) -> dict[str, Any]:
    """Per receiver: delivered, lost, duplicated, reordered, the highest rate seen.

    A duplicate is "in flight" when both arrivals are one delivery (same delivery_id): it
    was sent, and the replica died before the store had it as sent, so its next owner
    found it open and sent it again, which is the one repeat the design allows. The same
    event in two different deliveries is a duplicate that should never happen.
    """
    figures: dict[str, Any] = {"events_accepted": len(acked)}
    for receiver in RECEIVERS:
        arrivals = told(requests, receiver)
        counts = Counter(event_id for event_id, _, _, _ in arrivals)
        carriers: dict[str, set[str]] = {}
        for event_id, _, _, delivery_id in arrivals:
            carriers.setdefault(event_id, set()).add(delivery_id)
        reached = counts.keys() | stored.get(receiver, set())
        # A subject's resolution told before its firing was first told.
        first: dict[tuple[str, str], int] = {}
        for position, (_, fingerprint, status, _) in enumerate(arrivals):
            first.setdefault((fingerprint, status), position)
        reordered = sum(
            1
            for (fingerprint, status), at in first.items()
            if status == "resolved" and first.get((fingerprint, "firing"), -1) > at
        )
        times = [r.at for r in requests if r.path == f"/{receiver}"]
        figures[receiver] = {
            "delivered": len(reached & acked),
            "lost": len(acked - reached),
            "duplicated": sum(n - 1 for n in counts.values() if n > 1),
            "duplicated_not_in_flight": sum(
                1 for event_id, n in counts.items() if n > 1 and len(carriers[event_id]) > 1
            ),
            "reordered": reordered,
            "max_per_second": max_in_any_window(times, PER),
        }
    return figures


@contextmanager
def replicas(
    tmp_path: Path, url: str, fake_receiver: FakeReceiver, count: int
) -> Iterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    env = {"SIGNALBOX_DATABASE_URL": url, **LEASES}
    routes = ROUTES.format(url=fake_receiver.base_url, limit=LIMIT, per=PER)
    with ExitStack() as stack:
        started = []
        for n in range(count):
            folder = tmp_path / f"replica-{n}"
            folder.mkdir()
            (folder / "routes.yaml").write_text(routes, encoding="utf-8")
            port = free_port()
            started.append((port, stack.enter_context(signalbox(folder, port, env))))
        yield started


@pytest.mark.parametrize("count", [2, 3])
def test_a_replica_killed_mid_stream_loses_nothing(
    tmp_path: Path,
    pg_server: PgServer,
    fake_receiver: FakeReceiver,
    record_property: Any,
    count: int,
) -> None:
    """`count` replicas take a stream split across them; one is killed with SIGKILL at 40%:
    every accepted event reaches every receiver, duplicates only for what was in flight at
    the kill, each alert's firing before its resolution, the limited receiver's budget
    never exceeded across the replicas."""
    fake_receiver.delay = DELAY
    started = time.monotonic()
    url = pg_server.database()
    with replicas(tmp_path, url, fake_receiver, count) as running:
        ports = [port for port, _ in running]
        stream = Stream(ports, post_body)
        batches = 2 * SUBJECTS // PER_POST
        with ThreadPoolExecutor(POSTERS) as pool:
            try:
                posting = pool.map(stream.post, range(batches))
                assert wait_until(lambda: len(stream.acked) >= 2 * SUBJECTS * 0.4, 60)
                seen = len(fake_receiver.requests)
                assert wait_until(lambda: len(fake_receiver.requests) > seen, 30, 0.005)
                victim_port, victim = running[0]
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                stream.ports = [p for p in ports if p != victim_port]
                list(posting)
            finally:
                stream.stop.set()
        acked = set(stream.acked)
        assert len(acked) == len(stream.acked) == 2 * SUBJECTS
        everyone = wait_until(lambda: all_told(acked, url), 90, 0.5)
        time.sleep(1.0)  # anything told twice arrives now
        requests = list(fake_receiver.requests)
    figures = {
        "replicas": count,
        **figures_of(acked, requests, delivered_per_store(url)),
        "posts_refused_or_cut": stream.refused,
        "seconds": round(time.monotonic() - started, 1),
    }
    _record(figures, record_property, f"kill-{count}")
    assert everyone, figures
    for receiver in RECEIVERS:
        assert figures[receiver]["lost"] == 0, figures
        assert figures[receiver]["duplicated_not_in_flight"] == 0, figures
        assert figures[receiver]["reordered"] == 0, figures
    assert figures["limited"]["max_per_second"] <= LIMIT, figures


def test_a_database_restarted_mid_stream_loses_nothing(
    tmp_path: Path, own_pg_server: PgServer, fake_receiver: FakeReceiver, record_property: Any
) -> None:
    """Two replicas, PostgreSQL restarted mid-stream: webhooks get 503 while it is down,
    every one accepted is delivered once it is back, nothing twice (a send the store could
    not record is recorded once it is back, by the replica that made it), nothing out of
    order."""
    url = own_pg_server.database()
    with replicas(tmp_path, url, fake_receiver, 2) as running:
        stream = Stream([port for port, _ in running], post_body)
        with ThreadPoolExecutor(POSTERS) as pool:
            try:
                posting = pool.map(stream.post, range(2 * SUBJECTS // PER_POST))
                assert wait_until(lambda: len(stream.acked) >= 2 * SUBJECTS * 0.3, 60)
                own_pg_server.stop()
                refused_before = stream.refused
                assert wait_until(lambda: stream.refused > refused_before + 5, 20, 0.05)
                down = httpx.get(f"http://127.0.0.1:{running[0][0]}/readyz").status_code
                time.sleep(2.0)
                own_pg_server.start()
                list(posting)
            finally:
                stream.stop.set()
        acked = set(stream.acked)
        everyone = wait_until(lambda: all_told(acked, url), 90, 0.5)
        time.sleep(1.0)
        requests = list(fake_receiver.requests)
    figures = {
        **figures_of(acked, requests, delivered_per_store(url)),
        "readyz_while_down": down,
        "posts_refused_or_cut": stream.refused,
    }
    _record(figures, record_property, "database-restart")
    assert everyone, figures
    assert down == 503
    assert len(acked) == 2 * SUBJECTS
    for receiver in RECEIVERS:
        assert figures[receiver]["lost"] == 0, figures
        assert figures[receiver]["duplicated"] == 0, figures
        assert figures[receiver]["reordered"] == 0, figures
    assert figures["limited"]["max_per_second"] <= LIMIT, figures


def _record(figures: dict[str, Any], record_property: Any, name: str) -> None:
    record_property("figures", figures)
    saved = json.loads(FIGURES.read_text("utf-8")) if FIGURES.exists() else {}
    FIGURES.write_text(json.dumps({**saved, name: figures}, indent=2), "utf-8")
    print(f"\nfailover figures ({name}): {json.dumps(figures)}")
