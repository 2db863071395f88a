"""Ops-written templates render in worker processes that can be killed.

A template from routes.yaml can loop for hours (`{% for a in range(100000) %}{% for b in
range(100000) %}…`), allocate gigabytes (`{{ "x" * 10**10 }}`) or compute for minutes in
one C call (`{{ 10 ** 10 ** 8 }}`). No check inside the interpreter stops the last two and
a thread cannot be killed, so these renders run in child processes with an address-space
limit, and a child that overruns its CPU time is killed and replaced. The delivery then fails
with `TemplateFailed` (a PermanentError: dead, fallback channel) while the event loop only
ever awaits a future.

Each of `WORKERS` threads owns one child and talks to it over pipes: the job goes as a
pickle (we trust what we send), the answer comes back as JSON (we do not unpickle what a
template process says). Shipped templates do not come here: they are reviewed code whose
loops run over the events they are given (see docs/channels.md, "Render limits").
"""

from __future__ import annotations

import asyncio
import atexit
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from channels.base import Message, Notification, TemplateFailed
from channels.templating import failure

if TYPE_CHECKING:
    from channels.rendering import TemplatedChannel

# CPU seconds one delivery's render may take (every part and every fitting attempt).
# CPU, not wall-clock time: on a busy machine a worker waits for a core without using
# its allowance, while a looping template uses it at full speed.
RENDER_CPU_SECONDS = 2.0
# Wall-clock ceiling, for a machine so busy the worker hardly runs at all.
RENDER_WALL_SECONDS = 20.0
# Memory a worker may take beyond what it holds after start-up.
MEMORY_HEADROOM = 512 * 1024 * 1024
WORKERS = 2
_FRAME = struct.Struct("!Q")
_ROOT = str(Path(__file__).resolve().parents[1])
# How often a waiting thread looks at its worker's CPU time.
_POLL_SECONDS = 0.05
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Overrun(Exception):
    """The worker used up its time; the text says which."""


class _Worker:
    """One child process; used by one thread at a time."""

    def __init__(self) -> None:
        path = os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from channels.sandbox import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Not the service's environment: its ${VAR} secrets are no business of templates.
            env={"PYTHONPATH": path, "PATH": os.environ.get("PATH", "")},
        )
        _LIVE.add(self.proc)

    def cpu_seconds(self) -> float:
        """CPU time the child has used (user + system); 0 where /proc cannot say."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def call(self, job: bytes) -> bytes:
        """The child's answer to `job`; Overrun past its limits, EOFError if it died."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        started_cpu, deadline = self.cpu_seconds(), time.monotonic() + RENDER_WALL_SECONDS

        def check() -> None:
            if self.cpu_seconds() - started_cpu > RENDER_CPU_SECONDS:
                raise Overrun(f"stopped after {RENDER_CPU_SECONDS:g}s of CPU time")
            if time.monotonic() > deadline:
                raise Overrun(f"stopped after {RENDER_WALL_SECONDS:g}s")

        self.proc.stdin.write(_FRAME.pack(len(job)) + job)
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        (size,) = _FRAME.unpack(_read(fd, _FRAME.size, check))
        return _read(fd, size, check)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        _LIVE.discard(self.proc)


def _read(fd: int, size: int, check: Callable[[], None]) -> bytes:
    chunks: list[bytes] = []
    while size:
        if not select.select([fd], [], [], _POLL_SECONDS)[0]:
            check()
            continue
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


_LIVE: set[subprocess.Popen[bytes]] = set()
_local = threading.local()
_EXECUTOR = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="template-sandbox")


@atexit.register
def _kill_all() -> None:
    for proc in list(_LIVE):
        proc.kill()


def _run_job(job: bytes) -> Any:
    """In a pool thread: its child's decoded answer, or an error text."""
    worker: _Worker | None = getattr(_local, "worker", None)
    if worker is None or worker.proc.poll() is not None:
        worker = _local.worker = _Worker()
    try:
        return orjson.loads(worker.call(job))
    except Overrun as exc:
        error = f"{exc}: it took too long"
    except (EOFError, OSError, orjson.JSONDecodeError):
        error = "stopped: its render process died (too much memory?)"
    worker.kill()
    _local.worker = None
    return {"error": error}


def _where(channel: TemplatedChannel, notification: Notification) -> str:
    if notification.template:
        return "the route's template"
    return f"the template of channel {channel.name!r}"


async def render_sandboxed(
    channel: TemplatedChannel, notification: Notification, budget: int | None
) -> list[Message]:
    """`channel.render_now(notification, budget)`, done by a worker process within limits."""
    job = pickle.dumps((type(channel), channel.name, channel.config, notification, budget))
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(_EXECUTOR, _run_job, job)
    return _messages(answer, channel, notification)


def render_sandboxed_blocking(
    channel: TemplatedChannel, notification: Notification, budget: int | None
) -> list[Message]:
    """`render_sandboxed`, waited for in this thread (a config check has no event loop)."""
    job = pickle.dumps((type(channel), channel.name, channel.config, notification, budget))
    return _messages(_EXECUTOR.submit(_run_job, job).result(), channel, notification)


def _messages(
    answer: dict[str, Any], channel: TemplatedChannel, notification: Notification
) -> list[Message]:
    if "error" in answer:
        raise TemplateFailed(f"{_where(channel, notification)} {answer['error']}")
    return [_message(m, notification) for m in answer["messages"]]


def _message(fields: dict[str, Any], notification: Notification) -> Message:
    events = [notification.events[i] for i in fields.pop("events")]
    return Message(source=replace(notification, events=events), **fields)


# -- the child process -------------------------------------------------------------


def _limit_memory() -> None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return  # no /proc: the time limit still holds
    vm_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmSize"))
    limit = vm_kb * 1024 + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _answer(job: bytes, channels: dict[bytes, TemplatedChannel]) -> bytes:
    cls, name, config, notification, budget = pickle.loads(job)  # noqa: S301 - from our parent
    key = pickle.dumps((cls, name, config))
    channel = channels.get(key)
    if channel is None:
        channel = channels[key] = cls(name, config)
    index = {id(event): i for i, event in enumerate(notification.events)}
    try:
        messages = channel.render_now(notification, budget)
    except TemplateFailed as exc:
        return orjson.dumps({"error": exc.detail})
    except MemoryError:
        return orjson.dumps({"error": "stopped: it needed too much memory"})
    except Exception as exc:  # any failure of the template is the answer
        return orjson.dumps({"error": failure(exc)})
    return orjson.dumps(
        {
            "messages": [
                {
                    "title": m.title,
                    "text": m.text,
                    "body": m.body,
                    "budget": m.budget,
                    "part": m.part,
                    "parts": m.parts,
                    "events": [index[id(e)] for e in m.source.events] if m.source else [],
                }
                for m in messages
            ]
        }
    )


def main() -> None:
    _limit_memory()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    channels: dict[bytes, TemplatedChannel] = {}
    while header := stdin.read(_FRAME.size):
        (size,) = _FRAME.unpack(header)
        answer = _answer(stdin.read(size), channels)
        stdout.write(_FRAME.pack(len(answer)) + answer)
        stdout.flush()
