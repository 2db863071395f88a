"""A throwaway PostgreSQL server for tests and benchmarks: initdb and pg_ctl in a temp dir.

PostgreSQL refuses to run as root, and CI runs as root: there the server's files and
processes belong to `nobody`. It listens on 127.0.0.1 only, on a free port, and trusts
local connections (nothing else can reach it). Debian keeps the server binaries off PATH,
under /usr/lib/postgresql/<version>/bin.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from process import free_port

USER = "signalbox"
# The unprivileged account the server runs as when we are root.
RUN_AS = "nobody"


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (newest version), if any."""
    candidates = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(0, Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


class PgServer:
    """One server: `start()`, `stop()` (and start again on the same port), `database()`."""

    def __init__(self, bindir: Path, *, fsync: bool = False) -> None:
        """`fsync=False` for tests (the server's disk flushes are not what they check,
        the store's synchronous_commit is); benchmarks run with fsync on."""
        self.bindir = bindir
        self.fsync = fsync
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="signalbox-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user = pwd.getpwnam(RUN_AS) if os.geteuid() == 0 else None
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self._names = itertools.count(1)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "--no-locale",
                  "-E", "UTF8", "--no-sync")  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
            user=self._user.pw_uid if self._user else None,
            group=self._user.pw_gid if self._user else None,
            extra_groups=[] if self._user else None,
            check=False,
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}{log}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=300 "
            "-c shared_buffers=64MB -c log_min_messages=warning"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends sessions cleanly, `immediate` as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def signal_all(self, signum: int) -> None:
        """Send `signum` to the server and every process it started (SIGSTOP: a server
        that stops answering without closing a connection, as a hung host does)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        pids = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(stat.parent.name))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(), autocommit=True)

    def database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop a database made by database(), ending whatever sessions are left on it."""
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_server(bindir: Path, *, fsync: bool = False) -> Iterator[PgServer]:
    server = PgServer(bindir, fsync=fsync)
    try:
        server.start()
        yield server
    finally:
        server.destroy()
