"""`signalbox serve --workers N`: N processes on one listening socket, each a replica.

One Python process uses one core. With PostgreSQL, N processes are N replicas of one
service (app/bus/ownership.py shares the receivers out), so they can share the port too:
this parent binds it, starts N children that accept on the same socket, passes them the
signals it gets, and starts a child again if one dies. Each child is named
`host:port/i`, so a restarted child takes its own leases back at once.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from app.logs import log

# A child that dies this soon after starting is not restarted at once, but after a pause
# growing to this many seconds: a broken configuration must not spin.
RESTART_PAUSE_MAX = 30.0
QUICK_DEATH = 5.0


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Runs `command` (a `signalbox serve` child) `workers` times on one socket."""

    def __init__(self, command: Sequence[str], workers: int, sock: socket.socket) -> None:
        self.command = list(command)
        self.workers = workers
        self.sock = sock
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._started: dict[int, float] = {}
        self._pause: dict[int, float] = {}
        self._stopping = False

    def _start(self, index: int) -> None:
        fd = self.sock.fileno()
        self._children[index] = subprocess.Popen(  # noqa: S603
            [*self.command, "--worker-index", str(index), "--listen-fd", str(fd)],
            pass_fds=(fd,),
            # Out of the terminal's process group: a Ctrl-C reaches the children once,
            # forwarded by this process, not twice (a second SIGINT makes uvicorn quit
            # without its grace period).
            process_group=0,
        )
        self._started[index] = time.monotonic()
        log(logging.INFO, "worker started", worker=index, pid=self._children[index].pid)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._stopping = True
        for child in self._children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def run(self) -> int:
        """Until SIGTERM or SIGINT has stopped every child; the exit code."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._forward)
        for index in range(self.workers):
            self._start(index)
        while True:
            for index, child in list(self._children.items()):
                code = child.poll()
                if code is None:
                    continue
                if self._stopping:
                    del self._children[index]
                    continue
                self._restart_later(index, code)
            if self._stopping and not self._children:
                return 0
            time.sleep(0.2)

    def _restart_later(self, index: int, code: int) -> None:
        lived = time.monotonic() - self._started[index]
        before = self._pause.get(index, 0.0)
        pause = min(RESTART_PAUSE_MAX, max(1.0, before * 2)) if lived < QUICK_DEATH else 0.0
        self._pause[index] = pause
        log(
            logging.ERROR,
            "worker died, starting it again",
            worker=index,
            exit_code=code,
            pause_s=pause,
        )
        if pause:
            time.sleep(pause)
        if not self._stopping:
            self._start(index)


def child_command(argv: Sequence[str]) -> list[str]:
    """The command line of a child: this one (`signalbox serve …`) run by this interpreter;
    the child's --worker-index makes it serve rather than supervise."""
    return [sys.executable, "-m", "app", *argv[1:]]
