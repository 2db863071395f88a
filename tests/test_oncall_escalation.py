"""Acknowledgements and escalation over HTTP, on each real store: unanswered trouble goes up
a level at each step's time, once; an ack stops the steps and the repeats; a restart
between steps neither loses nor repeats one."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from feeding import post_fixture
from oncallkit import fire, paging_routes, story
from providers.webhook import FakeReceiver
from service import serve, wait_until
from stores import Backend


def routes(receiver: FakeReceiver, first: str = "1s", second: str = "2s") -> str:
    steps = f"""\
    repeat_interval: 1s
    group_interval: 1s
    escalate:
      - {{ after: {first}, to: [lead] }}
      - {{ after: {second}, to: [boss] }}
"""
    return paging_routes(receiver, 'alertname="DiskFull"', ("page", "lead", "boss"), steps)


def titles(receiver: FakeReceiver, path: str) -> list[str]:
    return [str(r.json()["title"]) for r in receiver.requests if r.path == f"/{path}"]


def steps_fired(client: httpx.Client) -> float:
    """signalbox_escalation_steps_total{outcome="fired"} (every test's, in this process)."""
    found = re.search(
        r'^signalbox_escalation_steps_total\{outcome="fired"\} (\S+)$',
        client.get("/metrics").text,
        re.MULTILINE,
    )
    assert found is not None
    return float(found.group(1))


def test_unanswered_trouble_escalates_step_by_step_once_each(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Nobody acknowledges: the lead is paged once after 1s, the boss once after 2s, each
    message saying it escalated; the event lists both steps as fired."""
    with serve(tmp_path, routes(fake_receiver), **backend.settings()) as client:
        fired_before = steps_fired(client)
        started = time.monotonic()
        event_id = fire(client, instance="db1")
        wait_until(lambda: titles(fake_receiver, "lead"), within=5)
        first = time.monotonic() - started
        wait_until(lambda: titles(fake_receiver, "boss"), within=5)
        second = time.monotonic() - started
        time.sleep(1.5)
        steps = story(client, event_id)["escalation"]
        assert steps_fired(client) - fired_before == 2
    assert 0.9 <= first < second
    assert second >= 1.9
    [lead] = titles(fake_receiver, "lead")
    [boss] = titles(fake_receiver, "boss")
    assert lead.startswith("Escalated: not acknowledged for 1s")
    assert boss.startswith("Escalated: not acknowledged for 2s")
    assert [(s["step"], s["receiver"], s["state"]) for s in steps] == [
        (1, "lead", "fired"),
        (2, "boss", "fired"),
    ]


def test_an_ack_stops_the_escalation_and_the_repeats_until_the_trouble_ends(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Acknowledged within the first step: no step fires, the repeat is dropped as
    acknowledged, the page is told who has it; after the resolution a new firing is
    news again and escalates afresh."""
    with serve(tmp_path, routes(fake_receiver, "1500ms", "2s"), **backend.settings()) as client:
        event_id = fire(client, instance="db1")
        wait_until(lambda: titles(fake_receiver, "page"))
        ack = client.post(
            "/api/acks", json={"event_id": event_id, "by": "alice", "comment": "on it"}
        )
        assert ack.status_code == 201, ack.text
        assert ack.json()["told"] == ["page"]
        again = client.post("/api/acks", json={"event_id": event_id, "by": "bob"})
        assert again.status_code == 200
        assert again.json()["by"] == "alice"
        repeat = fire(client, instance="db1")
        time.sleep(2.5)
        assert titles(fake_receiver, "lead") == titles(fake_receiver, "boss") == []
        page = titles(fake_receiver, "page")
        acked = story(client, event_id)
        repeated = story(client, repeat)
        fire(client, status="resolved", instance="db1")
        wait_until(lambda: len(titles(fake_receiver, "page")) == 3)
        refired = fire(client, instance="db1")
        wait_until(lambda: len(titles(fake_receiver, "page")) == 4)
        wait_until(lambda: titles(fake_receiver, "lead"), within=5)
        fresh = story(client, refired)
    assert len(page) == 2
    assert page[1].startswith("Acknowledged by alice")
    assert acked["ack"]["by"] == "alice"
    assert acked["ack"]["comment"] == "on it"
    assert {s["state"] for s in acked["escalation"]} == {"stopped"}
    assert all(s["note"] == "acknowledged by alice" for s in acked["escalation"])
    assert [(o["stage"], o["detail"]) for o in repeated["outcomes"]] == [
        ("ack", "acknowledged by alice")
    ]
    assert fresh["ack"] is None
    assert fresh["acked_by"] is None
    assert [s["state"] for s in fresh["escalation"]][:1] == ["fired"]


def test_a_restart_between_steps_neither_loses_nor_repeats_one(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Stopped after the first step fired and before the second was due, the service
    started again fires the second at its time, and the first not again."""
    config = routes(fake_receiver, "1s", "4s")
    with serve(tmp_path, config, **backend.settings()) as client:
        started = time.monotonic()
        fire(client, instance="db1")
        wait_until(lambda: titles(fake_receiver, "lead"), within=5)
    assert titles(fake_receiver, "boss") == []
    with serve(tmp_path, config, **backend.settings()):
        wait_until(lambda: titles(fake_receiver, "boss"), within=8)
        boss_at = time.monotonic() - started
        time.sleep(1.0)
    assert boss_at >= 3.9
    assert len(titles(fake_receiver, "lead")) == 1
    assert len(titles(fake_receiver, "boss")) == 1


def test_acks_of_what_cannot_be_acknowledged_are_refused(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """An unknown event is a 404, a resolved alert a 409 saying why, a bad body a 400."""
    with serve(tmp_path, routes(fake_receiver), **backend.settings()) as client:
        resolved = fire(client, status="resolved", instance="db1")
        missing = client.post("/api/acks", json={"event_id": "nope", "by": "a"})
        assert missing.status_code == 404
        refused = client.post("/api/acks", json={"event_id": resolved, "by": "a"})
        assert refused.status_code == 409
        assert "resolved" in refused.json()["detail"]
        assert client.post("/api/acks", json={"event_id": resolved}).status_code == 400


def test_trouble_that_ended_cannot_be_acknowledged_afterwards(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Acknowledging the firing event of an alert resolved since, or the failure of a
    pipeline fixed since, is a 409: such an ack would quiet the next trouble."""
    config = paging_routes(fake_receiver, 'status=~"firing|failure"')
    with serve(tmp_path, config, **backend.settings()) as client:
        firing = fire(client, instance="db9")
        fire(client, status="resolved", instance="db9")
        failed = post_fixture(client, "gitlab/pipeline_hook.failed.json").json()["event_ids"][0]
        post_fixture(client, "gitlab/pipeline_hook.success.modern.json")
        for event_id, ended in ((firing, "resolved by event"), (failed, "fixed by event")):
            refused = client.post("/api/acks", json={"event_id": event_id, "by": "a"})
            assert refused.status_code == 409, refused.text
            assert ended in refused.json()["detail"]
        assert all(e["ack"] is None for e in client.get("/api/events").json()["events"])


def test_a_replica_taking_over_fires_the_next_step_once_and_an_ack_anywhere_stops_it(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """Two replicas on one database: A fires the first step and stops; B, taking A's
    receivers over, fires the second step at its time, once. Then trouble acknowledged on
    A (started again) while B owns the receivers escalates no further."""
    config = routes(fake_receiver, "1s", "3s")
    fast = {"lease_ttl": 1.5, "lease_renew": 0.25, **backend.settings()}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with serve(tmp_path / "b", config, replica_id="b", **fast) as b:
        with serve(tmp_path / "a", config, replica_id="a", **fast) as a:
            wait_until(lambda: a.get("/api/config").json() is not None)
            fire(a, instance="db1")
            wait_until(lambda: titles(fake_receiver, "lead"), within=5)
        wait_until(lambda: titles(fake_receiver, "boss"), within=8)
        time.sleep(1.0)
        assert len(titles(fake_receiver, "lead")) == len(titles(fake_receiver, "boss")) == 1
        fake_receiver.reset()
        with serve(tmp_path / "a", config, replica_id="a", **fast) as a:
            second = fire(b, instance="db2")
            wait_until(lambda: titles(fake_receiver, "page"))
            acked = a.post("/api/acks", json={"event_id": second, "by": "carol"})
            assert acked.status_code == 201, acked.text
            time.sleep(3.5)
    assert titles(fake_receiver, "lead") == titles(fake_receiver, "boss") == []


def test_a_broken_pipeline_escalates_until_it_is_fixed(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A failed GitLab pipeline nobody acknowledges goes to the lead after 1s; its fixing
    run stops the boss's step, and the fix itself is news to the page."""
    steps = """\
    escalate:
      - { after: 1s, to: [lead] }
      - { after: 2500ms, to: [boss] }
"""
    config = paging_routes(fake_receiver, 'kind="pipeline"', ("page", "lead", "boss"), steps)
    with serve(tmp_path, config, **backend.settings()) as client:
        failed = post_fixture(client, "gitlab/pipeline_hook.failed.json")
        assert failed.status_code == 202
        wait_until(lambda: titles(fake_receiver, "lead"), within=5)
        fixed = post_fixture(client, "gitlab/pipeline_hook.success.modern.json")
        assert fixed.status_code == 202
        wait_until(lambda: len(titles(fake_receiver, "page")) == 2)
        time.sleep(2.0)
        broken = story(client, failed.json()["event_ids"][0])
        fix = story(client, fixed.json()["event_ids"][0])
    assert titles(fake_receiver, "lead")[0].startswith("Escalated: not acknowledged for 1s")
    assert titles(fake_receiver, "boss") == []
    assert fix["labels"]["transition"] == "fixed"
    assert [(s["step"], s["receiver"], s["state"]) for s in broken["escalation"]] == [
        (1, "lead", "fired"),
        (2, "boss", "stopped"),
    ]
    assert broken["escalation"][1]["note"] == f"fixed by event {fix['id']}"


def test_an_ack_stops_a_groups_repeats(
    tmp_path: Path, backend: Backend, fake_receiver: FakeReceiver
) -> None:
    """A grouped alert repeated every second is repeated no more once acknowledged: the
    page hears the acknowledgement, and the event says why its repeats stopped."""
    grouped = """\
    group_by: [alertname]
    group_wait: 200ms
    group_interval: 500ms
    repeat_interval: 1s
"""
    config = paging_routes(fake_receiver, 'alertname="DiskFull"', ("page",), grouped)
    with serve(tmp_path, config, **backend.settings()) as client:
        event_id = fire(client, instance="db1")
        wait_until(lambda: len(titles(fake_receiver, "page")) >= 2, within=6)
        acked = client.post("/api/acks", json={"event_id": event_id, "by": "alice"})
        assert acked.status_code == 201
        wait_until(lambda: any(t.startswith("Acknowledged") for t in titles(fake_receiver, "page")))
        heard = len(titles(fake_receiver, "page"))
        time.sleep(2.5)
        page = titles(fake_receiver, "page")
        outcomes = story(client, event_id)["outcomes"]
    assert len(page) == heard, page
    assert ("ack", "acknowledged by alice") in [(o.get("stage"), o["detail"]) for o in outcomes]
