"""The real Signalbox app served by uvicorn on 127.0.0.1 in a thread, for HTTP tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from app.http_server import uvicorn_options
from app.main import create_app
from app.settings import Settings

LOG_ONLY = """\
sources:
  github: { secret: "gh-secret" }
  gitlab: { token: "gl-token" }
  jenkins: { token: "jk-token" }
  alertmanager: { token: "am-token" }
  grafana: { token: "gf-token" }
channels:
  stdout: { type: log }
routes:
  - matchers: ['status=~"failure|unstable"']
    to: [stdout]
fallback: [stdout]
"""

# Headers that authenticate a post to each source under LOG_ONLY.
AUTH = {
    "gitlab": {"x-gitlab-token": "gl-token"},
    "jenkins": {"authorization": "Bearer jk-token"},
    "alertmanager": {"authorization": "Bearer am-token"},
    "grafana": {"authorization": "Bearer gf-token"},
}


@contextmanager
def serve(tmp_path: Path, routes: str = LOG_ONLY, **settings: Any) -> Iterator[httpx.Client]:
    """Start the service with `routes` as routes.yaml; yield a client bound to it."""
    with serve_app(tmp_path, routes, **settings) as (client, _):
        yield client


@contextmanager
def serve_app(
    tmp_path: Path, routes: str = LOG_ONLY, **settings: Any
) -> Iterator[tuple[httpx.Client, FastAPI]]:
    """serve(), also yielding the app: its running parts are in app.state.ctx."""
    config = tmp_path / "routes.yaml"
    if not config.exists():
        config.write_text(routes, encoding="utf-8")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    defaults = {"data_dir": tmp_path / "data", "watch_config": False, "shutdown_grace": 1.0}
    options = Settings(config=config, **{**defaults, **settings})
    app = create_app(options)
    # The connection handling `signalbox serve` has (app/http_server.py).
    server_config = uvicorn.Config(app, log_config=None, lifespan="on", **uvicorn_options(options))
    server = uvicorn.Server(server_config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("signalbox did not start")
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, app
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def alert(alertname: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    """One alert as Alertmanager sends it inside a webhook body."""
    return {"status": status, "labels": {"alertname": alertname, **labels}, "annotations": {}}


def alertmanager_body(*alerts: dict[str, Any]) -> dict[str, Any]:
    """A version-4 Alertmanager webhook body carrying `alerts`."""
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "status": status,
        "receiver": "signalbox",
        "groupKey": "{}:{}",
        "alerts": list(alerts),
    }


def wait_until(condition: Callable[[], object], within: float = 5.0) -> None:
    """Poll `condition` until it is truthy; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
