"""The real `signalbox serve` as a child process, for tests that kill or signal it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(config: Path, port: int, *options: str) -> list[str]:
    """`signalbox serve` of this environment on 127.0.0.1:`port`."""
    command = str(Path(sys.executable).parent / "signalbox")
    return [command, "serve", "--config", str(config), "--port", str(port), *options]


@contextmanager
def signalbox(
    tmp_path: Path, port: int, env: dict[str, str] | None = None, options: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """Serve tmp_path/routes.yaml from tmp_path/data; ready when /readyz says so.

    stdout and stderr (the JSON log) are appended to tmp_path/signalbox.log.
    """
    log = (tmp_path / "signalbox.log").open("ab")
    proc = subprocess.Popen(
        serve_command(
            tmp_path / "routes.yaml", port, "--data-dir", str(tmp_path / "data"), *options
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError((tmp_path / "signalbox.log").read_text())
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()
