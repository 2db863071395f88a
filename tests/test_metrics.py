"""GET /metrics: the router's and the CI pipelines' series, with bounded labels."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.events import KINDS, SOURCES
from app.metrics import DELIVERY_OUTCOMES, LABEL_OVERFLOW, PIPELINE_LAST_STATUS
from app.observe import OTHER, BoundedLabel, LastStatus
from channels import CHANNEL_TYPES
from feeding import feed, post_fixture
from fixtures import load
from process import free_port, signalbox
from service import AUTH, LOG_ONLY, serve, wait_until


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def test_pipeline_metrics_follow_fixture_runs(tmp_path: Path) -> None:
    """Finished runs are counted by source, project and status, with durations and last status."""
    with serve(tmp_path) as client:
        feed(client)
        # The latency histogram is observed when a delivery is sent: wait for one.
        wait_until(lambda: client.get("/api/deliveries?state=sent").json()["deliveries"])
        text = client.get("/metrics").text
    gitlab_fail = {"source": "gitlab", "project": "android-team/customer-app"}
    assert (value(text, "signalbox_pipeline_runs_total", **gitlab_fail, status="failure") or 0) >= 1
    assert (value(text, "signalbox_pipeline_duration_seconds_count", **gitlab_fail) or 0) >= 1
    last = {
        dict(labels)["status"]
        for (name, labels), v in samples(text).items()
        if name == "signalbox_pipeline_last_status"
        and dict(labels)["project"] == gitlab_fail["project"]
        and v == 1
    }
    assert last == {"failure"}
    fixed = {"source": "gitlab", "project": "gitlab-org/gitlab-test", "status": "success"}
    assert (value(text, "signalbox_pipeline_runs_total", **fixed) or 0) >= 1
    assert "signalbox_route_matches_total{route=" in text
    assert "signalbox_delivery_queue_depth" in text
    assert "signalbox_delivery_oldest_pending_age_seconds" in text
    assert "signalbox_post_to_sent_seconds_bucket" in text


def test_running_pipelines_gauge_counts_unfinished_runs(tmp_path: Path) -> None:
    """A run heard as running shows in signalbox_pipelines_running until it finishes."""
    failed = "gitlab/pipeline_hook.failed.json"
    started = load(failed).payload
    started["object_attributes"]["status"] = "running"
    with serve(tmp_path) as client:
        assert post_fixture(client, failed, json.dumps(started).encode()).status_code == 202
        running = client.get("/metrics").text
        assert post_fixture(client, failed).status_code == 202
        finished = client.get("/metrics").text
    labels = {"source": "gitlab", "project": "android-team/customer-app"}
    assert value(running, "signalbox_pipelines_running", **labels) == 1
    assert value(finished, "signalbox_pipelines_running", **labels) is None


def test_refusals_are_counted_by_reason(tmp_path: Path) -> None:
    """Each kind of refused webhook increments its own reason."""
    with serve(tmp_path, max_body_bytes=16384) as client:
        before = client.get("/metrics").text
        hook = "/hooks/alertmanager"
        auth = AUTH["alertmanager"]
        client.post(hook, json={}, headers={"authorization": "Bearer wrong"})
        client.post(hook, content=b"{", headers={**auth, "content-type": "application/json"})
        client.post(
            hook, content=b"x" * 32768, headers={**auth, "content-type": "application/json"}
        )
        client.post(hook, content=b"hello", headers={**auth, "content-type": "text/plain"})
        assert post_fixture(client, "github/ping.json").status_code == 200
        after = client.get("/metrics").text
    for source, reason in [
        ("alertmanager", "unauthorized"),
        ("alertmanager", "malformed"),
        ("alertmanager", "too_large"),
        ("alertmanager", "unsupported_media_type"),
        ("github", "ignored"),
    ]:
        name = "signalbox_webhooks_refused_total"
        grew = (value(after, name, source=source, reason=reason) or 0) - (
            value(before, name, source=source, reason=reason) or 0
        )
        assert grew == 1, (source, reason)


def test_label_values_past_the_bound_become_other() -> None:
    """Past its limit a label reports "other" and the overflow counter says how often."""
    bound = BoundedLabel("test-project", limit=2)
    before = LABEL_OVERFLOW.labels("test-project")._value.get()
    assert [bound(p) for p in ("a", "b", "c", "a", "d")] == ["a", "b", OTHER, "a", OTHER]
    assert LABEL_OVERFLOW.labels("test-project")._value.get() - before == 2


def test_last_status_forgets_the_least_recently_updated_pipeline() -> None:
    """The last-status gauge keeps one series per pipeline and at most `limit` pipelines."""
    last = LastStatus(limit=2)
    key = ("test", "p", "a", "main")
    last.set(key, "running")
    last.set(key, "failure")
    last.set(("test", "p", "b", "main"), "success")
    last.set(("test", "p", "c", "main"), "success")
    series = {
        tuple(s.labels.values())
        for s in next(iter(PIPELINE_LAST_STATUS.collect())).samples
        if s.labels["source"] == "test"
    }
    assert series == {("test", "p", "b", "main", "success"), ("test", "p", "c", "main", "success")}


def test_counters_exist_at_zero_from_start_up(tmp_path: Path) -> None:
    """Before any traffic, every channel type has its delivery series for every outcome at
    0 (so increase() sees the first dead letter), events per source and kind are at 0, and
    no _created series doubles them."""
    # A process of its own: this one's registry holds what earlier tests counted.
    (tmp_path / "routes.yaml").write_text(LOG_ONLY, "utf-8")
    port = free_port()
    with signalbox(tmp_path, port):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    for channel in CHANNEL_TYPES:
        assert value(text, "signalbox_delivery_attempts_total", channel=channel) == 0
        for outcome in DELIVERY_OUTCOMES:
            labels = {"channel": channel, "outcome": outcome}
            assert value(text, "signalbox_deliveries_total", **labels) == 0, labels
    for source in SOURCES:
        assert value(text, "signalbox_events_dropped_total", source=source) == 0
        for kind in KINDS:
            labels = {"source": source, "kind": kind}
            assert value(text, "signalbox_events_received_total", **labels) == 0, labels
    assert "_created" not in text
