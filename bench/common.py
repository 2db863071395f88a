"""Shared by the bench scripts: tools, pinning, child servers, RSS, percentiles, tables.

Every server runs pinned to one core (`taskset -c 0`), every load generator and sink on
the other (`taskset -c 1`); override with BENCH_SERVER_CPU / BENCH_CLIENT_CPU, or run
nothing pinned with `unpin()` (the scripts' --unpinned). PostgreSQL, when a bench needs
it, is a throwaway server (tests/pgserver.py, fsync on) on the server core: its work is
the store's. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgserver import PgServer

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
    "initdb": "postgresql",
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


class _Placement:
    pinned = True


PLACEMENT = _Placement()


def unpin() -> None:
    """From now on start every process unpinned: the scheduler places them."""
    PLACEMENT.pinned = False


def pinned(cmd: Sequence[str], cpu: str) -> list[str]:
    """`cmd` pinned to `cpu` by taskset (unchanged after unpin())."""
    if not PLACEMENT.pinned:
        return list(cmd)
    return [need_tool("taskset"), "-c", cpu, *cmd]


def pin_self() -> None:
    """The bench process itself (the load generator) on the client core, when pinning."""
    if PLACEMENT.pinned:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})


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

    def peak_rss_mb(self) -> float:
        # taskset execs the program, so the pid is the server's own.
        return status_kb(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return status_kb(self.pid, "VmRSS") / 1024

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


def status_kb(pid: int, field: str) -> int:
    """A /proc/<pid>/status field in kB (VmHWM: peak RSS, VmRSS: current RSS); 0 once the
    process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(pid: int) -> list[int]:
    """The processes `pid` started (its main thread's children)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as listed:
            return [int(p) for p in listed.read().split()]
    except OSError:
        return []


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid`, all its threads, so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command: state is field 3, utime 14 and stime 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / _TICK


def pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split among their users) of `pid`, MB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Signalbox:
    """One Signalbox service: a process, or N replicas on one PostgreSQL database.

    N replicas run as the tree's `--workers N` does (one supervisor, N workers accepting
    on the socket it bound: `serve.py --workers`) when the tree has app/workers.py, else
    as N processes on N ports, which the load generator takes in turn (round robin).
    """

    def __init__(self, children: list[Child], ports: list[int], workers: bool) -> None:
        self.children = children
        self.ports = ports
        self.workers = workers

    @property
    def pid(self) -> int:
        """The first serving process (for a one-process service, the only one)."""
        return self.pids()[0]

    def pids(self) -> list[int]:
        """The processes that serve: the workers of a supervisor, else the children."""
        if self.workers:
            return sorted(p for c in self.children for p in children_of(c.pid))
        return [c.pid for c in self.children]

    def peak_rss_mb(self) -> list[float]:
        """VmHWM of each serving process, MB."""
        return [status_kb(pid, "VmHWM") / 1024 for pid in self.pids()]

    def rss_mb(self) -> float:
        """VmRSS of all serving processes together, MB."""
        return sum(status_kb(pid, "VmRSS") for pid in self.pids()) / 1024

    def stop(self) -> None:
        for child in self.children:
            child.stop()


def supports_workers(src: Path = SRC) -> bool:
    """Whether the tree has `signalbox serve --workers` (app/workers.py)."""
    return (src / "app" / "workers.py").is_file()


def start_signalbox(
    work: Path,
    routes: str,
    port: int,
    access_log: bool = False,
    database_url: str | None = None,
    processes: int = 1,
) -> Signalbox:
    """Signalbox on `port` (and more ports when N processes run without --workers)."""
    config = work / "routes.yaml"
    config.write_text(routes, encoding="utf-8")
    if processes > 1 and database_url is None:
        raise ValueError("several processes need PostgreSQL: one SQLite file is one process's")
    workers = processes > 1 and supports_workers()
    ports = (
        [port] if processes == 1 or workers else [port, *(free_port() for _ in range(1, processes))]
    )
    children = []
    try:
        for n, each in enumerate(ports):
            cmd = [PYTHON, str(BENCH / "serve.py"), "signalbox", "--port", str(each)]
            cmd += ["--config", str(config), "--data-dir", str(work / "data")]
            if access_log:
                cmd.append("--access-log")
            if workers:
                cmd += ["--workers", str(processes)]
            suffix = "" if len(ports) == 1 else f"-{n}"
            # The URL goes by the environment, as the docs advise (a command line is public).
            env = {"SIGNALBOX_DATABASE_URL": database_url} if database_url else {}
            children.append(
                Child("signalbox", pinned(cmd, SERVER_CPU), work / f"signalbox{suffix}.log", env)
            )
        for child, each in zip(children, ports, strict=True):
            child.wait_http(f"http://{HOST}:{each}/healthz")
    except BaseException:
        for child in children:
            child.stop()
        raise
    server = Signalbox(children, ports, workers)
    if workers:
        _wait_for_workers(server, processes)
    return server


def _wait_for_workers(server: Signalbox, processes: int, timeout: float = 30.0) -> None:
    """Until every worker of the supervisor answers: the first one up answers /healthz
    for all, so ask until each pid has been seen serving (a worker's readiness is its
    lifespan done; its log says "signalbox started")."""
    deadline = time.monotonic() + timeout
    log = server.children[0].log
    while time.monotonic() < deadline:
        started = log.read_text(encoding="utf-8", errors="replace").count("signalbox started")
        if started >= processes and len(server.pids()) >= processes:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{processes} workers did not all start within {timeout:g}s; see {log}")


@contextlib.contextmanager
def postgres() -> Iterator[PgServer]:
    """A throwaway PostgreSQL server (tests/pgserver.py) with fsync on, on the server core
    (its processes inherit the affinity of the one that starts it)."""
    sys.path.insert(0, str(REPO / "tests"))
    from pgserver import find_bindir, running_server

    bindir = find_bindir()
    if bindir is None:
        need_tool("initdb")  # installs Debian's postgresql as root, else says how
        bindir = find_bindir()
    if bindir is None:
        sys.exit("[bench] PostgreSQL server binaries not found: `apt-get install postgresql`")
    mine = os.sched_getaffinity(0)
    if PLACEMENT.pinned:
        os.sched_setaffinity(0, {int(SERVER_CPU)})
    try:
        with running_server(bindir, fsync=True) as server:
            os.sched_setaffinity(0, mine)
            yield server
    finally:
        os.sched_setaffinity(0, mine)


def postgres_pids(server: PgServer) -> list[int]:
    """The postmaster and every process it started (backends, writers, checkpointer)."""
    try:
        postmaster = int((server.data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return []
    return [postmaster, *children_of(postmaster)]


def pg_counters(server: PgServer) -> dict[str, float]:
    """The server's commits and WAL flushes so far, all databases (pg_stat_database,
    pg_stat_wal). A backend reports its figures within about a second of its last
    transaction, and all of them when it exits."""
    with server.admin() as conn:
        commits = conn.execute("SELECT sum(xact_commit) FROM pg_stat_database").fetchone()
        wal = conn.execute("SELECT wal_records, wal_sync FROM pg_stat_wal").fetchone()
    assert commits is not None and wal is not None
    return {
        "commits": float(commits[0] or 0),
        "wal_records": float(wal[0]),
        "wal_syncs": float(wal[1]),
    }


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
    """Alertmanager on `port`; pinned, with GOMAXPROCS=1 (one core, like one Python
    process); unpinned, with Go's default (every core)."""
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
    env = {"GOMAXPROCS": "1"} if PLACEMENT.pinned else {}
    child = Child("alertmanager", pinned(cmd, SERVER_CPU), work / "alertmanager.log", env)
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
    where = (
        f"server on core {SERVER_CPU}, load generator and sink on core {CLIENT_CPU}"
        if PLACEMENT.pinned
        else "nothing pinned (the scheduler places every process)"
    )
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} at start; {where}"


def sink_routes(sink_port: int, matcher: str = 'source=~".+"', receivers: int = 1) -> str:
    """routes.yaml sending every matching event, ungrouped and unlimited, to the sink.

    With `receivers` > 1, that many `webhook` channels, all at the sink; an alert goes to
    the one its `shard` label names (loadgen.alert gives it), so replicas can share them.
    """
    if receivers == 1:
        channels = {"sink": [matcher]}
    else:
        channels = {f"sink{n}": [matcher, f'shard="{n}"'] for n in range(receivers)}
    listed = "".join(
        f"""\
  {name}:
    type: webhook
    url: "http://127.0.0.1:{sink_port}/"
    rate_limit: {{messages: 100000, per: 1s}}
"""
        for name in channels
    )
    routes = "".join(
        f"  - matchers: [{', '.join(repr(m) for m in matchers)}]\n    to: [{name}]\n"
        for name, matchers in channels.items()
    )
    return f"channels:\n{listed}defaults:\n  dedup_window: 0s\n  group_wait: 0s\nroutes:\n{routes}"
