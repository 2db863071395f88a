"""The compose `ha` profile and its load balancer: two replicas on PostgreSQL behind
HAProxy. The compose file is checked without Docker; deploy/haproxy/haproxy.cfg is checked
by `haproxy -c` and run, addresses aside, in front of two real `signalbox serve` processes
(each on its own SQLite here: what is checked is the balancer, not the shared store)."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from feeding import post_fixture
from process import free_port, signalbox
from service import LOG_ONLY, wait_until
from test_deploy import PINNED, compose, routes_variables, venv_tool

REPO = Path(__file__).resolve().parents[1]
HAPROXY_CFG = REPO / "deploy" / "haproxy" / "haproxy.cfg"
DEFAULT_STACK = {"signalbox", "mailpit", "prometheus", "grafana"}
# PostgreSQL numbers its releases major.minor (17.6): that is an exact version.
POSTGRES_PINNED = re.compile(r"^postgres:\d+\.\d+(-[\w.-]+)?$")
FAILED = "gitlab/pipeline_hook.failed.json"


def ha_services() -> dict[str, dict[str, object]]:
    services = compose()["services"]
    return {name: s for name, s in services.items() if "ha" in s.get("profiles", [])}


def replicas() -> dict[str, dict[str, object]]:
    return {name: s for name, s in ha_services().items() if name.startswith("signalbox-")}


def sections() -> dict[str, list[str]]:
    """haproxy.cfg as {"backend replicas": [lines...]}, comments and blank lines dropped."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in HAPROXY_CFG.read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not raw[0].isspace():
            current = found.setdefault(" ".join(line.split()), [])
        else:
            current.append(" ".join(line.split()))
    return found


def test_default_stack_is_unchanged_by_the_ha_profile() -> None:
    """Without a profile compose starts the four services it always did; the profile's
    services all carry `ha` and publish no port the default stack uses."""
    services = compose()["services"]
    default = {name for name, s in services.items() if not s.get("profiles")}
    assert default == DEFAULT_STACK
    assert set(ha_services()) == {"postgres", "signalbox-a", "signalbox-b", "lb"}
    assert set(services) == DEFAULT_STACK | set(ha_services())
    taken = {p.split(":")[-2] for s in services.values() if not s.get("profiles")
             for p in s.get("ports", [])}  # fmt: skip
    for service in ha_services().values():
        for port in service.get("ports", []):  # type: ignore[attr-defined]
            assert port.split(":")[-2] not in taken, port


def test_ha_images_are_pinned() -> None:
    """PostgreSQL and HAProxy are pinned to exact releases; the replicas run the image the
    Dockerfile builds, as the default service does."""
    services = ha_services()
    assert POSTGRES_PINNED.match(str(services["postgres"]["image"]))
    assert PINNED.match(str(services["lb"]["image"]))
    assert str(services["lb"]["image"]).startswith("haproxy:")
    for service in replicas().values():
        assert (
            service["build"] == "."
            and service["image"] == compose()["services"]["signalbox"]["image"]
        )


def test_postgres_has_a_volume_a_healthcheck_and_a_required_password() -> None:
    """The database lives on a named volume, is health-checked with pg_isready, and takes
    its password from .env (documented in .env.example, so it is never in the file)."""
    postgres = compose()["services"]["postgres"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres-data" in compose()["volumes"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-}"
    example = (REPO / ".env.example").read_text("utf-8")
    assert re.search(r"^POSTGRES_PASSWORD=$", example, re.M)


def test_replicas_use_the_postgres_service() -> None:
    """Both replicas point SIGNALBOX_DATABASE_URL at the compose PostgreSQL with its user,
    password and database, wait for it to be healthy, get every variable routes.yaml reads,
    and share the default service's routes.yaml mount."""
    postgres = compose()["services"]["postgres"]["environment"]
    default = compose()["services"]["signalbox"]
    assert len(replicas()) == 2
    for name, replica in replicas().items():
        env = replica["environment"]
        assert isinstance(env, dict)
        url = urlsplit(env["SIGNALBOX_DATABASE_URL"])
        assert url.scheme == "postgresql", name
        assert (url.hostname, url.port, url.path) == (
            "postgres",
            5432,
            f"/{postgres['POSTGRES_DB']}",
        )
        assert url.username == postgres["POSTGRES_USER"]
        assert env["SIGNALBOX_DATABASE_URL"].count("${POSTGRES_PASSWORD:-}") == 1
        assert replica["depends_on"]["postgres"] == {"condition": "service_healthy"}  # type: ignore[index]
        for variable in routes_variables():
            assert env[variable] == f"${{{variable}:-}}", (name, variable)
        assert "./deploy:/etc/signalbox:ro" in default["volumes"]
        assert replica["volumes"] == ["./deploy:/etc/signalbox:ro"]
        assert "ports" not in replica, "replicas are reached through the load balancer only"


def test_lb_checks_readyz_and_sends_to_both_replicas() -> None:
    """HAProxy's config is mounted where the image reads it, its port is published, every
    backend's servers are exactly the two replica services, and the replicas' backend
    health-checks GET /readyz expecting 200 (the live-feed backend follows those checks)."""
    lb = compose()["services"]["lb"]
    assert "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in lb["volumes"]
    cfg = sections()
    (bind,) = [line for line in cfg["frontend signalbox"] if line.startswith("bind ")]
    assert bind == "bind :8080" and "8081:8080" in lb["ports"]
    port = compose()["services"]["signalbox"]["environment"]["SIGNALBOX_PORT"]
    wanted = {f"{name}:{port}" for name in replicas()}
    backends = {name: lines for name, lines in cfg.items() if name.startswith("backend ")}
    assert set(backends) == {"backend replicas", "backend live_feeds"}
    for lines in backends.values():
        servers = {line.split()[2] for line in lines if line.startswith("server ")}
        assert servers == wanted
    replicas_backend = backends["backend replicas"]
    assert "option httpchk" in replicas_backend
    (send,) = [line for line in replicas_backend if line.startswith("http-check send ")]
    assert "meth GET uri /readyz ver HTTP/1.1" in send
    assert "http-check expect status 200" in replicas_backend
    assert all(" check " in line for line in replicas_backend if line.startswith("server "))
    for line in backends["backend live_feeds"]:
        if line.startswith("server "):
            assert f"track replicas/{line.split()[1]}" in line


def test_lb_applies_the_security_limits_and_streams_live_feeds() -> None:
    """The timeouts and limits docs/operations.md recommends in front of Signalbox are set
    (headers 10 s, client inactivity 30 s, keep-alive 5 s, 1 MiB bodies, 20 connections per
    client), forwarded headers cannot be forged, and /ui/feed/stream goes to a backend that
    waits an hour for the stream's next bytes."""
    cfg = sections()
    defaults, frontend = cfg["defaults"], cfg["frontend signalbox"]
    for line in ("timeout http-request 10s", "timeout client 30s", "timeout http-keep-alive 5s"):
        assert line in defaults
    assert "http-request deny deny_status 413 if { req.hdr_val(content-length) gt 1048576 }" in (
        frontend
    )
    assert "tcp-request connection reject if { sc0_conn_cur gt 20 }" in frontend
    assert "http-request del-header X-Forwarded-For" in frontend
    assert "option forwardfor" in frontend
    assert "use_backend live_feeds if { path /ui/feed/stream }" in frontend
    assert "timeout server 1h" in cfg["backend live_feeds"]
    for replica in replicas().values():
        assert replica["environment"]["FORWARDED_ALLOW_IPS"] == "*"  # type: ignore[index]


def haproxy() -> str:
    return venv_tool("haproxy", "haproxy")


def test_haproxy_accepts_the_config() -> None:
    """`haproxy -c` (Debian's 2.6, the oldest LTS the config is written for) finds the
    config valid, with no warning."""
    done = subprocess.run(
        [haproxy(), "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr


@dataclass
class Stack:
    """Two replicas and HAProxy in front, on loopback ports."""

    lb: httpx.Client
    replicas: dict[str, int]
    data: dict[str, Path]
    stats: int

    def status(self, server: str) -> str:
        """The replicas backend's view of `server`: UP, DOWN, ..."""
        csv = httpx.get(f"http://127.0.0.1:{self.stats}/;csv").text
        for row in csv.splitlines():
            fields = row.split(",")
            if fields[:2] == ["replicas", server]:
                return fields[17].split()[0]
        raise AssertionError(csv)

    def events(self, server: str) -> int:
        """Events the replica itself stored."""
        port = self.replicas[server]
        answer = httpx.get(f"http://127.0.0.1:{port}/api/events", params={"limit": 1000})
        return len(answer.json()["events"])


def local_config(ports: dict[str, int], lb: int, stats: int, scale: float = 1.0) -> str:
    """haproxy.cfg with the replicas, the listeners and (`scale` < 1) the client and server
    inactivity timeouts of the defaults section moved; everything else as shipped."""
    text = HAPROXY_CFG.read_text("utf-8")
    for name, port in ports.items():
        text = text.replace(f"{name}:8080", f"127.0.0.1:{port}")
    text = text.replace("bind :8080", f"bind 127.0.0.1:{lb}")
    text = text.replace("bind :8404", f"bind 127.0.0.1:{stats}")
    if scale != 1.0:
        for side in ("client", "server"):
            text = text.replace(
                f"    timeout {side} 30s", f"    timeout {side} {30_000 * scale:.0f}ms"
            )
    return text


@contextmanager
def ha_stack(
    tmp_path: Path, scale: float = 1.0, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """signalbox-a and -b (SIGNALBOX_DB_BUSY_TIMEOUT=1 so a held lock fails /readyz fast,
    and `env`) behind HAProxy run with the shipped config; yields once both are UP."""
    tool = haproxy()
    ports = {name: free_port() for name in ("signalbox-a", "signalbox-b")}
    data = {name: tmp_path / name for name in ports}
    lb, stats = free_port(), free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(local_config(ports, lb, stats, scale), "utf-8")
    with ExitStack() as stack:
        for name, port in ports.items():
            data[name].mkdir()
            (data[name] / "routes.yaml").write_text(LOG_ONLY, "utf-8")
            settings = {"SIGNALBOX_DB_BUSY_TIMEOUT": "1", **(env or {})}
            stack.enter_context(signalbox(data[name], port, settings))
        log = stack.enter_context((tmp_path / "haproxy.log").open("wb"))
        proc = subprocess.Popen([tool, "-db", "-f", str(cfg)], stdout=log, stderr=log)
        stack.callback(proc.wait, 10)
        stack.callback(proc.terminate)
        client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{lb}", timeout=15))
        found = Stack(client, ports, data, stats)

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "haproxy.log").read_text("utf-8"))
            return all(_up(found, name) for name in ports)

        wait_until(ready, 15)
        yield found


def _up(stack: Stack, server: str) -> bool:
    try:
        return stack.status(server) == "UP"
    except (httpx.TransportError, AssertionError):
        return False


def test_webhooks_through_the_lb_are_spread_over_both_replicas(tmp_path: Path) -> None:
    """Ten webhooks posted to HAProxy are all accepted, and each replica stores some."""
    with ha_stack(tmp_path) as stack:
        answers = [post_fixture(stack.lb, FAILED).status_code for _ in range(10)]
        assert answers == [202] * 10
        counts = {name: stack.events(name) for name in stack.replicas}
    assert sum(counts.values()) == 10
    assert min(counts.values()) >= 3, counts


def test_a_replica_whose_readyz_fails_gets_no_webhooks_until_ready(tmp_path: Path) -> None:
    """While signalbox-a's store cannot commit (its database write-locked), its /readyz
    answers 503, HAProxy takes it out and every webhook is accepted by signalbox-b; once
    the lock is released it is back in the rotation."""
    with ha_stack(tmp_path) as stack:
        lock = sqlite3.connect(stack.data["signalbox-a"] / "data" / "signalbox.db")
        lock.execute("BEGIN IMMEDIATE")
        try:
            wait_until(lambda: stack.status("signalbox-a") == "DOWN", 20)
            before = {name: stack.events(name) for name in stack.replicas}
            answers = [post_fixture(stack.lb, FAILED).status_code for _ in range(6)]
            assert answers == [202] * 6
        finally:
            lock.rollback()
            lock.close()
        assert stack.events("signalbox-b") == before["signalbox-b"] + 6
        assert stack.events("signalbox-a") == before["signalbox-a"]
        wait_until(lambda: stack.status("signalbox-a") == "UP", 20)
        answers = [post_fixture(stack.lb, FAILED).status_code for _ in range(4)]
        assert answers == [202] * 4
        assert stack.events("signalbox-a") >= before["signalbox-a"] + 1


def test_a_live_feed_through_the_lb_outlasts_its_timeouts_unbuffered(tmp_path: Path) -> None:
    """With the defaults' client and server timeouts scaled down to 1.5 s, a live feed
    opened through HAProxy stays open through 4 s of silence, and a row sent then reaches
    the browser within a second (HAProxy buffers none of it)."""
    rows: list[float] = []
    opened = threading.Event()
    with ha_stack(tmp_path, scale=0.05) as stack:

        def read() -> None:
            try:
                with stack.lb.stream("GET", "/ui/feed/stream") as stream:
                    assert stream.status_code == 200
                    opened.set()
                    for chunk in stream.iter_text():
                        if "<" in chunk:  # a row of HTML, not a keep-alive comment
                            rows.append(time.monotonic())
                            return
            except httpx.TransportError:
                return  # closed by HAProxy: the test sees the reader gone

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert opened.wait(10)
        time.sleep(4)
        assert reader.is_alive(), "HAProxy closed the live feed"
        sent = time.monotonic()
        for port in stack.replicas.values():  # whichever replica holds the feed
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as replica:
                assert post_fixture(replica, FAILED).status_code == 202
        wait_until(lambda: rows, 5)
    assert rows[0] - sent < 1.0


def test_lb_refuses_large_bodies_and_too_many_connections(tmp_path: Path) -> None:
    """A body announced above 1 MiB is answered 413 by HAProxy; a client holding 20
    connections has its 21st closed at once, and gets one again when it lets one go."""
    with ha_stack(tmp_path) as stack:
        big = stack.lb.post(
            "/hooks/gitlab",
            content=b"{" + b" " * (1024 * 1024) + b"}",
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413
        stack.lb.close()  # its kept-alive connection would count as one of the 20
        address = ("127.0.0.1", int(str(stack.lb.base_url.port)))
        held = [socket.create_connection(address, timeout=5) for _ in range(20)]
        try:
            time.sleep(0.2)
            assert _refused(address)
            held.pop().close()
            time.sleep(0.2)
            assert not _refused(address)
        finally:
            for conn in held:
                conn.close()


def _refused(address: tuple[str, int]) -> bool:
    """True when a new connection is reset or closed before it is answered."""
    try:
        with socket.create_connection(address, timeout=5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = conn.recv(64)
    except ConnectionError:
        return True
    assert answer == b"" or answer.startswith(b"HTTP/1.1 200"), answer
    return answer == b""


def test_a_client_cannot_forge_its_address_past_the_lb(tmp_path: Path) -> None:
    """With 2 live feeds allowed per client, 5 opened through HAProxy by one client, each
    claiming another X-Forwarded-For, are counted as that one client's (HAProxy replaces the
    header the replicas trust): the replica given 3 refuses one with 429."""
    codes = []
    limit = {"SIGNALBOX_LIVE_MAX_STREAMS_PER_CLIENT": "2"}
    with ha_stack(tmp_path, env=limit) as stack, ExitStack() as feeds:
        for n in range(5):
            forged = {"x-forwarded-for": f"203.0.113.{n}"}
            stream = stack.lb.stream("GET", "/ui/feed/stream", headers=forged)
            codes.append(feeds.enter_context(stream).status_code)
    assert sorted(codes) == [200, 200, 200, 200, 429], codes
