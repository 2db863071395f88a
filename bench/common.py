"""Shared by the bench scripts: tools, pinning, child servers, RSS, percentiles, tables.

Every server runs pinned to one core (`taskset -c 0`), every load generator and sink on
the other (`taskset -c 1`); override with BENCH_SERVER_CPU / BENCH_CLIENT_CPU.
All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# The Signalbox source tree the servers run: this checkout unless BENCH_SRC names another
# (e.g. `git archive HEAD | tar -x -C /tmp/sb` to measure a commit while others edit).
SRC = Path(os.environ.get("BENCH_SRC", REPO)).resolve()
FIXTURES = Path(os.environ.get("SIGNALBOX_FIXTURES", REPO / "tests" / "payloads"))
PYTHON = sys.executable
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("BENCH_CLIENT_CPU", "1")
HOST = "127.0.0.1"

# binary -> Debian package that provides it
DEBIAN_PACKAGES = {
    "wrk": "wrk",
    "taskset": "util-linux",
    "prometheus-alertmanager": "prometheus-alertmanager",
}


def need_tool(binary: str) -> str:
    """Path of `binary`; installs its Debian package when root, else explains and exits."""
    found = shutil.which(binary)
    if found:
        return found
    package = DEBIAN_PACKAGES.get(binary, binary)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"[bench] {binary} missing: apt-get install -y {package}", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True)
        found = shutil.which(binary)
        if found:
            return found
    sys.exit(f"[bench] {binary} not found: install it with `sudo apt-get install -y {package}`")


def need_python(module: str, pip_name: str | None = None) -> None:
    try:
        __import__(module)
    except ImportError:
        sys.exit(
            f"[bench] Python module {module} missing: "
            f"`{PYTHON} -m pip install {pip_name or module}`"
        )


def pinned(cmd: Sequence[str], cpu: str) -> list[str]:
    return [need_tool("taskset"), "-c", cpu, *cmd]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"signalbox-bench-{prefix}-"))


def export_tree(rev: str) -> Path:
    """The tree of git revision `rev` in a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="signalbox-base-"))
    archive = subprocess.run(
        ["git", "-C", str(SRC), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


class Child:
    """A server started for one run: waits until it answers, reports its memory, stops."""

    def __init__(self, name: str, cmd: Sequence[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            list(cmd),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=SRC,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status < 500:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:g}s; see {self.log}")

    def status_kb(self, field: str) -> int:
        """A /proc/<pid>/status field in kB (VmHWM: peak RSS, VmRSS: current RSS)."""
        # taskset execs the program, so the pid is the server's own.
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def peak_rss_mb(self) -> float:
        return self.status_kb("VmHWM") / 1024

    def rss_mb(self) -> float:
        return self.status_kb("VmRSS") / 1024

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


def start_signalbox(work: Path, routes: str, port: int, access_log: bool = False) -> Child:
    config = work / "routes.yaml"
    config.write_text(routes, encoding="utf-8")
    cmd = [
        PYTHON,
        str(BENCH / "serve.py"),
        "signalbox",
        "--port",
        str(port),
        "--config",
        str(config),
        "--data-dir",
        str(work / "data"),
    ]
    if access_log:
        cmd.append("--access-log")
    child = Child("signalbox", pinned(cmd, SERVER_CPU), work / "signalbox.log")
    child.wait_http(f"http://{HOST}:{port}/healthz")
    return child


def start_bare(work: Path, port: int) -> Child:
    cmd = [PYTHON, str(BENCH / "serve.py"), "bare", "--port", str(port)]
    child = Child("bare FastAPI", pinned(cmd, SERVER_CPU), work / "bare.log")
    child.wait_http(f"http://{HOST}:{port}/healthz")
    return child


def start_sink(work: Path, port: int) -> Child:
    cmd = [PYTHON, str(BENCH / "sink.py"), "--port", str(port)]
    child = Child("sink", pinned(cmd, CLIENT_CPU), work / "sink.log")
    child.wait_http(f"http://{HOST}:{port}/count")
    return child


ALERTMANAGER_CONFIG = """\
route:
  receiver: sink
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: http://127.0.0.1:{sink_port}/
        send_resolved: false
"""


def start_alertmanager(work: Path, port: int, sink_port: int) -> Child:
    binary = need_tool("prometheus-alertmanager")
    config = work / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG.format(sink_port=sink_port), encoding="utf-8")
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.path={work / 'am-data'}",
        f"--web.listen-address={HOST}:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    # One core, like ours: Go would otherwise run 2 OS threads in parallel.
    child = Child(
        "alertmanager", pinned(cmd, SERVER_CPU), work / "alertmanager.log", {"GOMAXPROCS": "1"}
    )
    child.wait_http(f"http://{HOST}:{port}/-/ready")
    return child


def alertmanager_version() -> str:
    out = subprocess.run(
        [need_tool("prometheus-alertmanager"), "--version"], capture_output=True, text=True
    )
    first = (out.stdout or out.stderr).splitlines()
    return first[0] if first else "?"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so a run's output pastes into a README or an issue."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def machine_note() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.2f} at start; server on core "
        f"{SERVER_CPU}, load generator and sink on core {CLIENT_CPU}"
    )


def sink_routes(sink_port: int, matcher: str = 'source=~".+"') -> str:
    """routes.yaml sending every matching event, ungrouped and unlimited, to the sink."""
    return f"""\
channels:
  sink:
    type: webhook
    url: "http://127.0.0.1:{sink_port}/"
    rate_limit: {{messages: 100000, per: 1s}}
defaults:
  dedup_window: 0s
  group_wait: 0s
routes:
  - matchers: ['{matcher}']
    to: [sink]
"""
