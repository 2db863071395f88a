"""Acknowledgement links in messages (SIGNALBOX_EXTERNAL_URL): opening one never
acknowledges, its form does without a login, and a tampered, expired or cross-site use
is refused."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from oncallkit import fire, paging_routes
from providers.webhook import FakeReceiver
from service import serve_app, wait_until
from stores import Backend

EXTERNAL = "https://signalbox.example.org"
TOKEN = {"authorization": "Bearer api-secret"}
LINK = re.compile(re.escape(EXTERNAL) + r"/ui/ack/([A-Za-z0-9_.-]+)")


def ack_of(client: httpx.Client, event_id: str) -> object:
    events = client.get("/api/events", headers=TOKEN).json()["events"]
    return next(e for e in events if e["id"] == event_id)["ack"]


def test_the_link_page_acknowledges_only_by_its_form(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """The page message links to opens without a login and acknowledges nothing (as a
    link-preview bot's GET); its form's POST acknowledges, as the name given, and the
    page then says so; the page tells "acknowledged by" to the receiver it paged."""
    settings = {"external_url": EXTERNAL, "api_token": "api-secret", **backend.settings()}
    with serve_app(tmp_path, paging_routes(fake_receiver), **settings) as (client, _):
        event_id = fire(client, instance="db1")
        wait_until(lambda: fake_receiver.requests)
        found = LINK.search(fake_receiver.requests[0].json()["text"])
        assert found is not None
        path = f"/ui/ack/{found.group(1)}"
        for _ in range(2):
            opened = client.get(path)
            assert opened.status_code == 200
            assert 'method="post"' in opened.text
        assert ack_of(client, event_id) is None
        assert client.get(f"/ui/events/{event_id}/row").status_code == 401
        done = client.post(path, data={"by": "dave", "comment": "looking"})
        assert done.status_code == 200, done.text
        assert "Acknowledged by <strong>dave</strong>" in done.text
        wait_until(lambda: len(fake_receiver.requests) == 2)
    assert ack_of_after(fake_receiver) == "Acknowledged by dave"


def ack_of_after(receiver: FakeReceiver) -> str:
    return str(receiver.requests[1].json()["title"]).split(" · ")[0]


def test_tampered_expired_and_cross_site_links_are_refused(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A token with one character changed, one past its expiry, and a genuine one posted
    from another site all leave the trouble unacknowledged."""
    settings = {"external_url": EXTERNAL, **backend.settings()}
    with serve_app(tmp_path, paging_routes(fake_receiver), **settings) as (client, app):
        event_id = fire(client, instance="db1")
        links = app.state.ctx.bus.links
        good = links.token(event_id)
        flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
        tampered = client.post(f"/ui/ack/{flipped}", data={"by": "eve"})
        assert tampered.status_code == 403
        assert "altered" in tampered.text
        another = event_id[:-1] + ("1" if event_id.endswith("0") else "0")
        other_event = links.token(event_id).replace(event_id, another, 1)
        assert client.post(f"/ui/ack/{other_event}", data={"by": "eve"}).status_code == 403
        old = links.token(event_id, now=time.time() - links.ttl - 1)
        expired = client.post(f"/ui/ack/{old}", data={"by": "eve"})
        assert expired.status_code == 403
        assert "expired" in expired.text
        foreign = client.post(
            f"/ui/ack/{good}", data={"by": "eve"}, headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert ack_of(client, event_id) is None
        assert client.post(f"/ui/ack/{good}", data={"by": "eve"}).status_code == 200
        assert ack_of(client, event_id) is not None


def test_messages_carry_no_link_without_an_external_url(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Without SIGNALBOX_EXTERNAL_URL a message has no acknowledgement link, nor does a
    resolution."""
    with serve_app(tmp_path, paging_routes(fake_receiver), **backend.settings()) as (client, _):
        fire(client, instance="db1")
        wait_until(lambda: fake_receiver.requests)
    assert "/ui/ack/" not in fake_receiver.requests[0].json()["text"]
