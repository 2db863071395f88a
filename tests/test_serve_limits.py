"""Slow and many clients against the real `signalbox serve` process: idle and slow
connections are closed after their timeouts while others are served, and live feeds are
capped per client address and in all."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from pathlib import Path

import httpx

from process import free_port, signalbox
from service import LOG_ONLY, alert, alertmanager_body

# One second each, so the test waits little; the defaults are 5, 10 and 30 s.
TIMEOUTS = {
    "SIGNALBOX_TIMEOUT_KEEP_ALIVE": "1",
    "SIGNALBOX_TIMEOUT_HEADERS": "1",
    "SIGNALBOX_TIMEOUT_BODY": "1",
}
HOOK = (
    b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer am-token\r\n"
    b"Content-Type: application/json\r\n"
)


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.setblocking(False)
    return sock


Closed = dict[str, float | None]


def _closed_after(
    socks: dict[str, socket.socket], trickle: set[str], within: float
) -> tuple[Closed, dict[str, bytes]]:
    """Seconds until each socket was closed by the server (None: still open after `within`),
    and what it was sent; sends one byte every 0.2 s on the `trickle` ones meanwhile."""
    start = time.monotonic()
    closed: Closed = dict.fromkeys(socks)
    answers: dict[str, bytes] = dict.fromkeys(socks, b"")
    selector = selectors.DefaultSelector()
    for name, sock in socks.items():
        selector.register(sock, selectors.EVENT_READ, name)
    next_byte = start
    while time.monotonic() - start < within and any(v is None for v in closed.values()):
        if time.monotonic() >= next_byte:
            next_byte += 0.2
            for name in trickle:
                if closed[name] is None:
                    # Closed on the server's side: the read below sees it.
                    with contextlib.suppress(OSError):
                        socks[name].send(b"a")
        for key, _ in selector.select(timeout=0.05):
            name = key.data
            try:
                data = socks[name].recv(65536)
            except ConnectionResetError:
                data = b""
            answers[name] += data
            if not data:
                closed[name] = time.monotonic() - start
                selector.unregister(socks[name])
    return closed, answers


def test_idle_and_slow_connections_are_closed_while_others_are_served(tmp_path: Path) -> None:
    """Connections that send nothing, headers or a body a byte at a time are closed about 1 s
    in (the slow ones told 408), however many bytes still trickle; webhooks are served."""
    (tmp_path / "routes.yaml").write_text(LOG_ONLY, encoding="utf-8")
    port = free_port()
    with signalbox(tmp_path, port, env=TIMEOUTS):
        socks = {f"idle-{n}": _connect(port) for n in range(50)}
        socks["headers"] = _connect(port)
        socks["headers"].send(HOOK + b"X-Slow: ")
        socks["body"] = _connect(port)
        socks["body"].send(HOOK + b"Content-Length: 100000\r\n\r\n{")
        socks["kept-alive"] = _connect(port)
        socks["kept-alive"].send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            body = alertmanager_body(alert("SlowClients"))
            hook = client.post(
                "/hooks/alertmanager", json=body, headers={"authorization": "Bearer am-token"}
            )
            assert hook.status_code == 202
            closed, answers = _closed_after(socks, trickle={"headers", "body"}, within=6)
            assert client.get("/healthz").status_code == 200
        for name, after in closed.items():
            assert after is not None, f"{name} still open after 6 s"
            assert 0.8 < after < 3.0, (name, after)
        assert answers["headers"].startswith(b"HTTP/1.1 408 ")
        assert b"request headers not received within 1 s" in answers["headers"]
        assert answers["body"].startswith(b"HTTP/1.1 408 ")
        assert answers["kept-alive"].startswith(b"HTTP/1.1 200 ")
        assert answers["idle-0"] == b""
    assert "request body not received within 1 s" in (tmp_path / "signalbox.log").read_text()


def _open_feed(port: int, source: str) -> tuple[socket.socket, int, bytes]:
    """A live feed opened from address `source`: the socket, the status, and for a
    refusal its whole answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.sendall(b"GET /ui/feed/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        assert chunk, "closed before answering"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        while len(body) < length:
            body += sock.recv(4096)
    return sock, status, answer[: len(head) + 4] + body


def test_live_feeds_are_capped_per_client_and_in_all(tmp_path: Path) -> None:
    """With 2 feeds per client and 3 in all, a client's 3rd feed is a 429 and the 4th feed
    of anyone a 503, each saying which limit; a closed feed frees its place; open feeds
    outlive the idle, header and body timeouts and get every new event."""
    (tmp_path / "routes.yaml").write_text(LOG_ONLY, encoding="utf-8")
    port = free_port()
    env = {
        **TIMEOUTS,
        "SIGNALBOX_LIVE_MAX_STREAMS": "3",
        "SIGNALBOX_LIVE_MAX_STREAMS_PER_CLIENT": "2",
    }
    with signalbox(tmp_path, port, env=env):
        first, status_1, _ = _open_feed(port, "127.0.0.1")
        second, status_2, _ = _open_feed(port, "127.0.0.1")
        _, mine, refused_mine = _open_feed(port, "127.0.0.1")
        other, status_3, _ = _open_feed(port, "127.0.0.2")
        _, everyone, refused_all = _open_feed(port, "127.0.0.2")
        assert (status_1, status_2, mine, status_3, everyone) == (200, 200, 429, 200, 503)
        assert b"SIGNALBOX_LIVE_MAX_STREAMS_PER_CLIENT" in refused_mine
        assert b"retry-after: 30" in refused_all.lower()
        assert b"all 3 live feeds are in use" in refused_all

        time.sleep(1.5)  # past every connection timeout: feeds are the app's time, not idle
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            body = alertmanager_body(alert("FeedsStayOpen"))
            hook = client.post(
                "/hooks/alertmanager", json=body, headers={"authorization": "Bearer am-token"}
            )
            assert hook.status_code == 202
        for feed in (first, second, other):
            feed.settimeout(5)
            received = b""
            while b"FeedsStayOpen" not in received:
                chunk = feed.recv(65536)
                assert chunk, "a live feed was closed"
                received += chunk

        first.close()
        deadline = time.monotonic() + 5
        while True:
            again, status, _ = _open_feed(port, "127.0.0.2")
            if status == 200:
                break
            again.close()
            assert time.monotonic() < deadline, "the closed feed's place was never freed"
            time.sleep(0.1)
        for feed in (second, other, again):
            feed.close()


def test_a_refused_feed_page_says_why(tmp_path: Path) -> None:
    """The console's own connection (htmx) gets the refusal as a notice row for the feed."""
    (tmp_path / "routes.yaml").write_text(LOG_ONLY, encoding="utf-8")
    port = free_port()
    env = {"SIGNALBOX_LIVE_MAX_STREAMS_PER_CLIENT": "0"}
    with (
        signalbox(tmp_path, port, env=env),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client,
    ):
        plain = client.get("/ui/feed/stream")
        assert plain.status_code == 429
        assert json.loads(plain.text)["error"] == "too many live feeds"
        htmx = client.get("/ui/feed/stream", headers={"hx-request": "true"})
        assert htmx.status_code == 429
        assert htmx.text.startswith('<li class="notice" role="status">Live updates are off')
