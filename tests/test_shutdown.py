"""SIGTERM: stop accepting, keep sending for the grace period, exit, resume the rest."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from process import free_port, signalbox
from providers.webhook import FakeReceiver
from test_restart import ROUTES, post_alert

GRACE = 1.5


def told(receiver: FakeReceiver) -> Counter[str]:
    return Counter(e["id"] for r in receiver.requests for e in r.json()["events"])


def test_sigterm_sends_for_the_grace_period_then_resumes_after_restart(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """Deliveries queued behind a slow receiver at SIGTERM are sent in grace or after restart."""
    # One send at a time, so 20 slow answers take longer than the grace period.
    routes = ROUTES.format(url=fake_receiver.base_url, group_wait="0s")
    routes = routes.replace('url: "', 'concurrency: 1, url: "')
    (tmp_path / "routes.yaml").write_text(routes, "utf-8")
    fake_receiver.delay = 0.5
    port = free_port()
    env = {"SIGNALBOX_SHUTDOWN_GRACE": str(GRACE)}
    with signalbox(tmp_path, port, env) as proc:
        ids = [post_alert(port, i) for i in range(20)]
        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        time.sleep(0.3)
        with pytest.raises(httpx.TransportError):
            post_alert(port, 99)
        proc.wait(timeout=GRACE + 10)
        took = time.monotonic() - stopped_at
    # uvicorn re-raises the signal it handled once shutdown is complete.
    assert proc.returncode in (0, -signal.SIGTERM)
    lines = (tmp_path / "signalbox.log").read_text("utf-8").splitlines()
    assert "signalbox stopped" in [json.loads(line)["msg"] for line in lines if line[:1] == "{"]
    assert took < GRACE + 2.0, took
    told_in_grace = len(told(fake_receiver))
    assert 0 < told_in_grace < len(ids), "the grace period ends before the slow queue does"
    fake_receiver.delay = 0.0
    with signalbox(tmp_path, port, env):
        deadline = time.monotonic() + 20
        while not set(ids) <= told(fake_receiver).keys() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert set(ids) <= told(fake_receiver).keys()
    # Only a send cut at the end of the grace period may be told twice.
    assert sum(n - 1 for n in told(fake_receiver).values()) <= 1
