"""Posting a stream of Alertmanager webhooks as a sender behind a load balancer does: each
batch until some replica answers 202, for tests that kill or stop things mid-stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


class Stream:
    """Posts every batch to the ports in turn until one answers 202 (Alertmanager retries
    a refused or cut post), and keeps the accepted event ids."""

    def __init__(
        self, ports: list[int], body: Callable[[int], dict[str, Any]], pause: float = 0.05
    ) -> None:
        self.ports = ports
        self.body = body
        self.pause = pause
        self.acked: list[str] = []
        self.refused = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def post(self, batch: int) -> None:
        body = self.body(batch)
        attempt = batch
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                port = self.ports[attempt % len(self.ports)]
                attempt += 1
                try:
                    answer: httpx.Response | None = client.post(
                        f"http://127.0.0.1:{port}/hooks/alertmanager",
                        json=body,
                        headers={"authorization": "Bearer am-token"},
                    )
                except httpx.TransportError:
                    answer = None
                if answer is not None and answer.status_code == 202:
                    with self._lock:
                        self.acked.extend(answer.json()["event_ids"])
                    return
                with self._lock:
                    self.refused += 1
                time.sleep(self.pause)


def wait_until(check: Callable[[], Any], seconds: float, poll: float = 0.2) -> bool:
    """Whether `check()` came true within `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
