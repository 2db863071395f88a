"""Alertmanager source: bearer token, version check, and every Alertmanager fixture."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from app.sources.alerting import label_fingerprint
from app.sources.alertmanager import SOURCE
from app.sources.base import Ignored, Malformed, SourceAuth, Unauthorized
from fixtures import (
    JSON_VALUES,
    Case,
    assert_event,
    fixture_files,
    index,
    load,
    mutated,
    parses_or_refuses,
    payload,
)

ZULIP = "alertmanager/firing.multi.v4_fingerprint.json"
FIRING_2019 = "alertmanager/firing.multi.v4_2019_no_fingerprint.json"
RESOLVED_2019 = "alertmanager/resolved.multi.v4_2019_no_fingerprint.json"
TRUNCATED = "alertmanager/resolved.single.v4_truncatedAlerts.json"

GROUP_KEY_2019 = (
    '{}/{severity=~"^(?:^(critical|major|minor|warning|informational)$)$"}'
    ':{alertname="ICMP ping failed"}'
)

CASES: dict[str, list[Case]] = {
    "alertmanager/firing.multi.v4_2019_no_fingerprint.json": [
        Case(
            labels={
                "alertname": "ICMP ping failed",
                "instance": "172.29.254.30",
                "job": "blackbox-icmp",
                "monitor": "monis",
                "severity": "major",
                "tags": "icmp, ping failed",
                "summary": "No physical connection to 172.29.254.30",
                "receiver": "alertmonitor_swarm",
                "source": "alertmanager",
                "kind": "alert",
                "status": "firing",
                "project": "blackbox-icmp",
                "pipeline": "ICMP ping failed",
            },
            title="ICMP ping failed firing: No physical connection to 172.29.254.30",
            url="http://9ed35ff90bf8:9090/graph?g0.expr=probe_success%7Bjob%3D%22blackbox-icmp%22"
            "%7D+%3D%3D+0&g0.tab=1",
            run=(None, None),
            times=("2019-09-27T16:27:56.612666+00:00", None, None),
            fingerprint="4a110cc8dbe76532",
            annotations={
                "description": "172.29.254.30 does not reply to ICMP pings",
                "groupKey": GROUP_KEY_2019,
                "receiver": "alertmonitor_swarm",
                "externalURL": "http://:9093",
            },
        ),
        Case(
            labels={
                "alertname": "ICMP ping failed",
                "instance": "172.29.254.50",
                "job": "blackbox-icmp",
                "monitor": "monis",
                "severity": "major",
                "tags": "icmp, ping failed",
                "summary": "No physical connection to 172.29.254.50",
                "receiver": "alertmonitor_swarm",
                "source": "alertmanager",
                "kind": "alert",
                "status": "firing",
                "project": "blackbox-icmp",
                "pipeline": "ICMP ping failed",
            },
            title="ICMP ping failed firing: No physical connection to 172.29.254.50",
            url="http://9ed35ff90bf8:9090/graph?g0.expr=probe_success%7Bjob%3D%22blackbox-icmp%22"
            "%7D+%3D%3D+0&g0.tab=1",
            run=(None, None),
            times=("2019-09-27T16:27:56.612666+00:00", None, None),
            fingerprint="e92130f1a362a046",
            annotations={
                "description": "172.29.254.50 does not reply to ICMP pings",
                "groupKey": GROUP_KEY_2019,
                "receiver": "alertmonitor_swarm",
                "externalURL": "http://:9093",
            },
        ),
        Case(
            labels={
                "alertname": "ICMP ping failed",
                "instance": "172.29.254.66",
                "job": "blackbox-icmp",
                "monitor": "monis",
                "severity": "major",
                "tags": "icmp, ping failed",
                "summary": "No physical connection to 172.29.254.66",
                "receiver": "alertmonitor_swarm",
                "source": "alertmanager",
                "kind": "alert",
                "status": "firing",
                "project": "blackbox-icmp",
                "pipeline": "ICMP ping failed",
            },
            title="ICMP ping failed firing: No physical connection to 172.29.254.66",
            url="http://9ed35ff90bf8:9090/graph?g0.expr=probe_success%7Bjob%3D%22blackbox-icmp%22"
            "%7D+%3D%3D+0&g0.tab=1",
            run=(None, None),
            times=("2019-09-27T16:27:56.612666+00:00", None, None),
            fingerprint="1e1c2fe4c8293484",
            annotations={
                "description": "172.29.254.66 does not reply to ICMP pings",
                "groupKey": GROUP_KEY_2019,
                "receiver": "alertmonitor_swarm",
                "externalURL": "http://:9093",
            },
        ),
    ],
    "alertmanager/firing.multi.v4_fingerprint.json": [
        Case(
            labels={
                "alertname": "High CPU Temperature",
                "host": "andromeda",
                "severity": "critical",
                "receiver": "ops-zulip",
                "source": "alertmanager",
                "kind": "alert",
                "status": "firing",
                "project": "ops-zulip",
                "pipeline": "High CPU Temperature",
            },
            title="High CPU Temperature firing: High CPU core temperature",
            url="http://cobalt:9090/graph?g0.expr=avg+by%28host%29+%28sensors_temp_input%7Bfeatur"
            "e%3D~%22core_%5B0-9%5D%2B%22%7D%29+%3E+15&g0.tab=1",
            run=(None, None),
            times=("2020-02-06T00:17:58.432911+00:00", None, None),
            fingerprint="a1bc48475b20e73d",
            annotations={
                "description": "CPU core temperature is 34.75C",
                "topic": "andromeda",
                "summary": "High CPU core temperature",
                "groupKey": "{}/{}:{}",
                "receiver": "ops-zulip",
                "externalURL": "http://ops1:9093",
            },
        ),
        Case(
            labels={
                "alertname": "High CPU Temperature",
                "host": "andromeda",
                "severity": "critical",
                "receiver": "ops-zulip",
                "source": "alertmanager",
                "kind": "alert",
                "status": "firing",
                "project": "ops-zulip",
                "pipeline": "High CPU Temperature",
            },
            title="High CPU Temperature firing: High CPU core temperature",
            url="http://cobalt:9090/graph?g0.expr=avg+by%28host%29+%28sensors_temp_input%7Bfeatur"
            "e%3D~%22core_%5B0-9%5D%2B%22%7D%29+%3E+15&g0.tab=1",
            run=(None, None),
            times=("2020-02-06T00:17:58.432911+00:00", None, None),
            fingerprint="c2ea85182f28cbd9",
            annotations={
                "description": "CPU core temperature is 17.625C",
                "topic": "andromeda",
                "summary": "High CPU core temperature",
                "groupKey": "{}/{}:{}",
                "receiver": "ops-zulip",
                "externalURL": "http://ops1:9093",
            },
        ),
    ],
    "alertmanager/resolved.multi.v4_2019_no_fingerprint.json": [
        Case(
            labels={
                "alertname": "ICMP ping failed",
                "instance": "172.29.254.30",
                "job": "blackbox-icmp",
                "monitor": "monis",
                "severity": "major",
                "tags": "icmp, ping failed",
                "summary": "No physical connection to 172.29.254.30",
                "receiver": "alertmonitor_swarm",
                "source": "alertmanager",
                "kind": "alert",
                "status": "resolved",
                "project": "blackbox-icmp",
                "pipeline": "ICMP ping failed",
            },
            title="ICMP ping failed resolved: No physical connection to 172.29.254.30",
            url="http://9ed35ff90bf8:9090/graph?g0.expr=probe_success%7Bjob%3D%22blackbox-icmp%22"
            "%7D+%3D%3D+0&g0.tab=1",
            run=(None, None),
            times=("2019-09-27T16:27:56.612666+00:00", None, None),
            fingerprint="4a110cc8dbe76532",
            annotations={
                "description": "172.29.254.30 does not reply to ICMP pings",
                "groupKey": GROUP_KEY_2019,
                "receiver": "alertmonitor_swarm",
                "externalURL": "http://:9093",
            },
        ),
        Case(
            labels={
                "alertname": "ICMP ping failed",
                "instance": "172.29.254.50",
                "job": "blackbox-icmp",
                "monitor": "monis",
                "severity": "major",
                "tags": "icmp, ping failed",
                "summary": "No physical connection to 172.29.254.50",
                "receiver": "alertmonitor_swarm",
                "source": "alertmanager",
                "kind": "alert",
                "status": "resolved",
                "project": "blackbox-icmp",
                "pipeline": "ICMP ping failed",
            },
            title="ICMP ping failed resolved: No physical connection to 172.29.254.50",
            url="http://9ed35ff90bf8:9090/graph?g0.expr=probe_success%7Bjob%3D%22blackbox-icmp%22"
            "%7D+%3D%3D+0&g0.tab=1",
            run=(None, None),
            times=("2019-09-27T16:27:56.612666+00:00", None, None),
            fingerprint="e92130f1a362a046",
            annotations={
                "description": "172.29.254.50 does not reply to ICMP pings",
                "groupKey": GROUP_KEY_2019,
                "receiver": "alertmonitor_swarm",
                "externalURL": "http://:9093",
            },
        ),
        Case(
            labels={
                "alertname": "ICMP ping failed",
                "instance": "172.29.254.66",
                "job": "blackbox-icmp",
                "monitor": "monis",
                "severity": "major",
                "tags": "icmp, ping failed",
                "summary": "No physical connection to 172.29.254.66",
                "receiver": "alertmonitor_swarm",
                "source": "alertmanager",
                "kind": "alert",
                "status": "resolved",
                "project": "blackbox-icmp",
                "pipeline": "ICMP ping failed",
            },
            title="ICMP ping failed resolved: No physical connection to 172.29.254.66",
            url="http://9ed35ff90bf8:9090/graph?g0.expr=probe_success%7Bjob%3D%22blackbox-icmp%22"
            "%7D+%3D%3D+0&g0.tab=1",
            run=(None, None),
            times=("2019-09-27T16:27:56.612666+00:00", None, None),
            fingerprint="1e1c2fe4c8293484",
            annotations={
                "description": "172.29.254.66 does not reply to ICMP pings",
                "groupKey": GROUP_KEY_2019,
                "receiver": "alertmonitor_swarm",
                "externalURL": "http://:9093",
            },
        ),
    ],
    "alertmanager/resolved.single.v4_truncatedAlerts.json": [
        Case(
            labels={
                "alertname": "Deployment",
                "app_kubernetes_io_instance": "eric-oss-common-base",
                "app_kubernetes_io_managed_by": "Helm",
                "app_kubernetes_io_name": "eric-pm-kube-state-metrics",
                "app_kubernetes_io_version": "2.1.0_10",
                "chart": "eric-pm-kube-state-metrics-2.1.0_10",
                "deployment": "eric-log-transformer",
                "instance": "192.168.69.53:8080",
                "job": "eric-pm-kube-state-metrics",
                "kubernetes_name": "eric-pm-kube-state-metrics",
                "kubernetes_namespace": "eric-eo-cm-ci406",
                "namespace": "eric-eo-cm-ci406",
                "severity": "Warning",
                "receiver": "web\\.hook",
                "source": "alertmanager",
                "kind": "alert",
                "status": "resolved",
                "project": "eric-pm-kube-state-metrics",
                "pipeline": "Deployment",
            },
            title="Deployment resolved: Kubernetes Deployment Replicas Mismatch",
            url="/metrics/viewer/graph?g0.expr=kube_deployment_spec_replicas%7Bnamespace%3D%22eri"
            "c-eo-cm-ci406%22%7D+%21%3D+kube_deployment_status_replicas_available%7Bnamespace"
            "%3D%22eric-eo-cm-ci406%22%7D&g0.tab=1",
            run=(None, None),
            times=("2022-07-29T11:13:27.300000+00:00", "2022-07-29T11:17:27.300000+00:00", 240.0),
            fingerprint="fbab788ec4c1018b",
            annotations={
                "description": "Deployment Replicas mismatch, desired value does not match..",
                "summary": "Kubernetes Deployment Replicas Mismatch",
                "groupKey": '{}:{alertname="Deployment"}',
                "receiver": "web\\.hook",
                "externalURL": "http://localhost:9093",
            },
        ),
    ],
}


def _parse(doc: Any) -> list[Any]:
    return SOURCE.parse({"content-type": "application/json"}, doc)


def test_every_fixture_has_an_expectation() -> None:
    """Every Alertmanager fixture file (and every index.json entry) is covered by a case here."""
    assert set(CASES) == fixture_files("alertmanager")
    assert {name for name in index() if name.startswith("alertmanager/")} <= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_parses_to_one_event_per_alert(name: str) -> None:
    """Each fixture gives one event per alert with exactly the expected labels, times and ids."""
    events = _parse(load(name).payload)
    assert len(events) == len(CASES[name])
    for event, case in zip(events, CASES[name], strict=True):
        assert_event(event, case)


def test_bearer_or_basic_token_is_required_when_configured() -> None:
    """The right bearer token or basic password passes; a wrong or missing one is refused; none
    configured passes."""
    auth = SourceAuth(token=SecretStr("am-token"))
    SOURCE.verify({"authorization": "Bearer am-token"}, b"{}", auth)
    SOURCE.verify({"authorization": "bearer am-token"}, b"{}", auth)
    # basic_auth: {username: signalbox, password: am-token} in Alertmanager's http_config.
    SOURCE.verify({"authorization": "Basic c2lnbmFsYm94OmFtLXRva2Vu"}, b"{}", auth)
    for headers in ({}, {"authorization": "Bearer other"}, {"authorization": "Basic YTpi"}):
        with pytest.raises(Unauthorized):
            SOURCE.verify(headers, b"{}", auth)
    SOURCE.verify({}, b"{}", SourceAuth())
    assert SOURCE.delivery_id({"authorization": "Bearer am-token"}) is None


def test_computed_fingerprint_equals_alertmanagers_own() -> None:
    """For alerts that carry one, the computed label fingerprint is Alertmanager's fingerprint."""
    alert = load(TRUNCATED).payload["alerts"][0]
    assert label_fingerprint(alert["labels"]) == alert["fingerprint"] == "fbab788ec4c1018b"
    assert label_fingerprint({}) == "cbf29ce484222325"


def test_fingerprints_are_stable_and_identify_alerts() -> None:
    """Fingerprints repeat across parses, match between firing and resolved of one alert,
    and differ between different alerts."""
    firing = [event.fingerprint for event in _parse(load(FIRING_2019).payload)]
    assert firing == [event.fingerprint for event in _parse(load(FIRING_2019).payload)]
    assert firing == [event.fingerprint for event in _parse(load(RESOLVED_2019).payload)]
    assert len(set(firing)) == 3
    zulip = {event.fingerprint for event in _parse(load(ZULIP).payload)}
    assert len(zulip) == 2 and not zulip & set(firing)


def test_alert_status_wins_over_group_status() -> None:
    """In a firing group, an alert that is itself resolved is reported resolved with its end."""
    doc = payload(FIRING_2019)
    doc["alerts"][1].update(status="resolved", endsAt="2019-09-27T16:37:56.612666101Z")
    statuses = [(e.status, e.finished_at is not None, e.duration_s) for e in _parse(doc)]
    assert statuses == [("firing", False, None), ("resolved", True, 600.0), ("firing", False, None)]


def test_truncated_alerts_are_noted_on_every_event() -> None:
    """truncatedAlerts > 0 puts a truncated_alerts annotation on each event; 0 puts none."""
    doc = payload(ZULIP)
    doc["truncatedAlerts"] = 3
    assert [e.annotations.get("truncated_alerts") for e in _parse(doc)] == ["3", "3"]
    assert all("truncated_alerts" not in e.annotations for e in _parse(load(TRUNCATED).payload))


def test_normalised_labels_win_over_the_alerts_own() -> None:
    """An alert label named like a normalised one (status, source, kind) is overridden."""
    doc = payload(ZULIP)
    doc["alerts"][0]["labels"].update(status="weird", source="prometheus", kind="x", project="p")
    labels = _parse(doc)[0].labels
    assert (labels["status"], labels["source"], labels["kind"]) == (
        "firing",
        "alertmanager",
        "alert",
    )
    assert labels["project"] == "p"


@pytest.mark.parametrize(
    ("labels", "project"),
    [
        ({"project": "pay", "job": "node", "service": "api"}, "pay"),
        ({"job": "node", "service": "api"}, "node"),
        ({"service": "api"}, "api"),
        ({}, "ops-zulip"),
    ],
)
def test_project_comes_from_project_job_service_then_receiver(
    labels: dict[str, str], project: str
) -> None:
    """The project label is the alert's project, else job, else service, else the receiver."""
    doc = payload(ZULIP)
    doc["alerts"][0]["labels"] = {"alertname": "X", **labels}
    assert _parse(doc)[0].labels["project"] == project


@pytest.mark.parametrize(
    ("version", "said"), [("3", "version '3'"), (4, "version '4'"), (None, "no version")]
)
def test_other_payload_versions_are_malformed(version: Any, said: str) -> None:
    """A version other than the string "4" is Malformed, saying what was received."""
    doc = payload(ZULIP)
    if version is None:
        del doc["version"]
    else:
        doc["version"] = version
    with pytest.raises(Malformed, match=f"has {said}; only version '4' is supported"):
        _parse(doc)


def test_bad_alert_shapes_are_malformed_or_ignored() -> None:
    """An unknown alert status or non-string label is Malformed; an empty group is Ignored."""
    doc = payload(ZULIP)
    doc["alerts"][1]["status"] = "pending"
    with pytest.raises(Malformed, match=r"alerts\.1\.status 'pending'"):
        _parse(doc)
    doc = payload(ZULIP)
    doc["alerts"][0]["labels"]["cpu"] = 3
    with pytest.raises(Malformed, match=r"alerts\.0\.labels\.cpu"):
        _parse(doc)
    doc["alerts"] = []
    with pytest.raises(Ignored):
        _parse(doc)


@settings(max_examples=300, deadline=None)
@given(doc=JSON_VALUES)
def test_random_json_gives_events_or_a_refusal(doc: Any) -> None:
    """Any JSON value yields events, Ignored or Malformed only."""
    parses_or_refuses(lambda: _parse(doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(CASES)))
def test_mutated_fixtures_give_events_or_a_refusal(data: st.DataObject, name: str) -> None:
    """Fixtures with keys dropped or values replaced yield events, Ignored or Malformed only."""
    doc = data.draw(mutated(load(name).payload))
    parses_or_refuses(lambda: _parse(doc))


def test_a_firing_alerts_own_ends_at_is_kept_as_its_expiry() -> None:
    """A firing alert's endsAt (when Alertmanager will take it as resolved) is its expiry; a
    resolved alert's is its end; Go's zero time is neither."""
    doc = payload("alertmanager/firing.multi.v4_fingerprint.json")
    doc["alerts"][0]["endsAt"] = "2020-02-06T00:27:58Z"
    first, second = _parse(doc)
    assert first.expires_at == datetime(2020, 2, 6, 0, 27, 58, tzinfo=UTC)
    assert first.finished_at is None
    assert second.expires_at is None
