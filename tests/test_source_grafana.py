"""Grafana source: token auth, payload versions, links, values, and every Grafana fixture."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from app.sources.alerting import label_fingerprint
from app.sources.base import Ignored, JsonDocument, Malformed, SourceAuth, Unauthorized
from app.sources.grafana import SOURCE
from fixtures import (
    Case,
    RawNumber,
    assert_event,
    dumps,
    fixture_files,
    index,
    load,
    mutated,
    parses_or_refuses,
    payload,
)

V11 = "grafana/firing.single.v11_values.json"
RESOLVED_V9 = "grafana/resolved.single.v9.json"
MIXED_V9 = "grafana/firing.mixed_resolved.v9.json"

# Grafana's rendered message, kept verbatim on the event of a one-alert notification.
MESSAGES = {
    "firing.single.v11_values": load(V11).payload["message"],
    "resolved.single.v9": load(RESOLVED_V9).payload["message"],
}

CASES: dict[str, list[Case]] = {
    "grafana/firing.single.v11_values.json": [
        Case(
            labels={
                "alertname": "Memory (copy)",
                "debug": "true",
                "grafana_folder": "device",
                "receiver": "Debug webhook",
                "source": "grafana",
                "kind": "alert",
                "status": "firing",
                "project": "device",
                "pipeline": "Memory (copy)",
                "org_id": "1",
            },
            title="Memory (copy) firing: High memory usage",
            url="https://play.grafana.org/alerting/grafana/dd2f0260-3cfc-4c65-a4c4-f3f632c551f4/view?orgId=1",
            run=(None, None),
            times=("2024-03-01T02:09:00+00:00", None, None),
            fingerprint="e6349a25f5ef0e9e",
            annotations={
                "summary": "High memory usage",
                "groupKey": (
                    '{}/{debug="true"}:{alertname="Memory (copy)", grafana_folder="device"}'
                ),
                "receiver": "Debug webhook",
                "externalURL": "https://play.grafana.org/",
                "silenceURL": (
                    "https://play.grafana.org/alerting/silence/new?alertmanager=grafa"
                    "na&matcher=alertname%3DMemory+%28copy%29&matcher=debug%3Dtrue&ma"
                    "tcher=grafana_folder%3Ddevice&orgId=1"
                ),
                "dashboardURL": (
                    "https://play.grafana.org/d/ece9fb32-7f71-4be9-bd94-2f23608ae5b9?orgId=1"
                ),
                "panelURL": (
                    "https://play.grafana.org/d/ece9fb32-7f71-4be9-bd94-2f23608ae5b9?"
                    "orgId=1&viewPanel=2"
                ),
                "imageURL": "https://grafana.com/assets/img/blog/mixed_styles.png",
                "values": "A=2473545728, B=0, C=1, minute=9",
                "valueString": (
                    "[ var='A' labels={instance=node_exporter:9100, job=node} value=2"
                    ".473545728e+09 ], [ var='B' labels={instance=node_exporter:9100,"
                    " job=node} value=0 ], [ var='C' labels={} value=1 ], [ var='minu"
                    "te' labels={} value=9 ]"
                ),
                "grafana_title": "[FIRING:1] Memory (copy) device (true)",
                "grafana_state": "alerting",
                "grafana_message": MESSAGES["firing.single.v11_values"],
            },
        ),
    ],
    "grafana/resolved.single.v9.json": [
        Case(
            labels={
                "alertname": "Test alert",
                "test": "true",
                "receiver": "Webhook test",
                "source": "grafana",
                "kind": "alert",
                "status": "resolved",
                "project": "Webhook test",
                "pipeline": "Test alert",
                "org_id": "1",
            },
            title="Test alert resolved: This is a summary field, failure on <no value>",
            url="https://grafana.example.com/alerting/grafana/zTjxv_C7k/view",
            run=(None, None),
            times=(
                "2022-06-17T00:41:00.782137+00:00",
                "2022-06-17T00:51:24.067337+00:00",
                623.2852,
            ),
            fingerprint="d8a21484c9c25a60",
            annotations={
                "description": "This is a description",
                "runbook_url": "https://example.com/",
                "summary": "This is a summary field, failure on <no value>",
                "groupKey": '{}/{test="true"}:{}',
                "receiver": "Webhook test",
                "externalURL": "https://grafana.example.com/",
                "silenceURL": (
                    "https://grafana.example.com/alerting/silence/new?alertmanager=gr"
                    "afana&matcher=alertname%3DTest+alert&matcher=test%3Dtrue"
                ),
                "valueString": (
                    "[ var='B0' metric='Value' labels={__name__=rabbitmq_queues, depl"
                    "oy=prod, instance=otherhost.example.com, job=rabbitmq} value=24 "
                    "]"
                ),
                "grafana_title": "[RESOLVED]  (Test alert true)",
                "grafana_state": "ok",
                "grafana_message": MESSAGES["resolved.single.v9"],
            },
        ),
    ],
    "grafana/firing.mixed_resolved.v9.json": [
        Case(
            labels={
                "alertname": "Test alert",
                "deploy": "prod",
                "instance": "badhost.example.com",
                "job": "rabbitmq",
                "test": "true",
                "receiver": "Webhook test",
                "source": "grafana",
                "kind": "alert",
                "status": "resolved",
                "project": "rabbitmq",
                "pipeline": "Test alert",
                "org_id": "1",
            },
            title="Test alert resolved: This is a summary field, failure on badhost.example.com",
            url="https://grafana.example.com/alerting/grafana/zTjxv_C7k/view",
            run=(None, None),
            times=(
                "2022-06-17T01:04:00.782137+00:00",
                "2022-06-17T01:08:28.652747+00:00",
                267.87061,
            ),
            fingerprint="aaafafe0953f0962",
            annotations={
                "description": "This is a description",
                "runbook_url": "https://example.com/",
                "summary": "This is a summary field, failure on badhost.example.com",
                "groupKey": '{}/{test="true"}:{}',
                "receiver": "Webhook test",
                "externalURL": "https://grafana.example.com/",
                "silenceURL": (
                    "https://grafana.example.com/alerting/silence/new?alertmanager=gr"
                    "afana&matcher=alertname%3DTest+alert&matcher=deploy%3Dprod&match"
                    "er=instance%3Dbadhost.example.com&matcher=job%3Drabbitmq&matcher"
                    "=test%3Dtrue"
                ),
                "valueString": (
                    "[ var='B' labels={__name__=rabbitmq_queues, deploy=prod, instanc"
                    "e=badhost.example.com, job=rabbitmq} value=17 ], [ var='C' label"
                    "s={__name__=rabbitmq_queues, deploy=prod, instance=badhost.examp"
                    "le.com, job=rabbitmq} value=1 ]"
                ),
                "grafana_title": "[FIRING:1, RESOLVED:2]  (true)",
                "grafana_state": "alerting",
            },
        ),
        Case(
            labels={
                "alertname": "Test alert",
                "deploy": "prod",
                "instance": "otherhost.example.com",
                "job": "rabbitmq",
                "test": "true",
                "receiver": "Webhook test",
                "source": "grafana",
                "kind": "alert",
                "status": "resolved",
                "project": "rabbitmq",
                "pipeline": "Test alert",
                "org_id": "1",
            },
            title="Test alert resolved: This is a summary field, failure on otherhost.example.com",
            url="https://grafana.example.com/alerting/grafana/zTjxv_C7k/view",
            run=(None, None),
            times=(
                "2022-06-17T01:04:00.782137+00:00",
                "2022-06-17T01:08:28.652747+00:00",
                267.87061,
            ),
            fingerprint="fb31814ac93dbe7d",
            annotations={
                "description": "This is a description",
                "runbook_url": "https://example.com/",
                "summary": "This is a summary field, failure on otherhost.example.com",
                "groupKey": '{}/{test="true"}:{}',
                "receiver": "Webhook test",
                "externalURL": "https://grafana.example.com/",
                "silenceURL": (
                    "https://grafana.example.com/alerting/silence/new?alertmanager=gr"
                    "afana&matcher=alertname%3DTest+alert&matcher=deploy%3Dprod&match"
                    "er=instance%3Dotherhost.example.com&matcher=job%3Drabbitmq&match"
                    "er=test%3Dtrue"
                ),
                "valueString": (
                    "[ var='B' labels={__name__=rabbitmq_queues, deploy=prod, instanc"
                    "e=otherhost.example.com, job=rabbitmq} value=24 ], [ var='C' lab"
                    "els={__name__=rabbitmq_queues, deploy=prod, instance=otherhost.e"
                    "xample.com, job=rabbitmq} value=1 ]"
                ),
                "grafana_title": "[FIRING:1, RESOLVED:2]  (true)",
                "grafana_state": "alerting",
            },
        ),
        Case(
            labels={
                "alertname": "Second webhook test",
                "test": "true",
                "receiver": "Webhook test",
                "source": "grafana",
                "kind": "alert",
                "status": "firing",
                "project": "Webhook test",
                "pipeline": "Second webhook test",
                "org_id": "1",
            },
            title="Second webhook test firing: Testing **another** failing alert",
            url="https://grafana.example.com/alerting/grafana/_0rkK_C7z/view",
            run=(None, None),
            times=("2022-06-17T01:03:00.782137+00:00", None, None),
            fingerprint="6f9cd313db421ef1",
            annotations={
                "description": "Description **here**",
                "runbook_url": "https://example.com/",
                "summary": "Testing **another** failing alert",
                "groupKey": '{}/{test="true"}:{}',
                "receiver": "Webhook test",
                "externalURL": "https://grafana.example.com/",
                "silenceURL": (
                    "https://grafana.example.com/alerting/silence/new?alertmanager=gr"
                    "afana&matcher=alertname%3DSecond+webhook+test&matcher=test%3Dtru"
                    "e"
                ),
                "valueString": (
                    "[ var='B0' metric='camo_build_info{goversion=\"go1.17.6\", instanc"
                    'e="sadhost.example.com", job="camo", role="smokescreen", version'
                    '="2.4.0"}\' labels={__name__=camo_build_info, goversion=go1.17.6,'
                    " instance=sadhost.example.com, job=camo, role=smokescreen, versi"
                    "on=2.4.0} value=1 ]"
                ),
                "grafana_title": "[FIRING:1, RESOLVED:2]  (true)",
                "grafana_state": "alerting",
            },
        ),
    ],
}


def _parse(doc: Any) -> list[Any]:
    return SOURCE.parse({"content-type": "application/json"}, doc)


def test_every_fixture_has_an_expectation() -> None:
    """Every Grafana fixture file (and every index.json entry) is covered by a case here."""
    assert set(CASES) == fixture_files("grafana")
    assert {name for name in index() if name.startswith("grafana/")} <= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_parses_to_one_event_per_alert(name: str) -> None:
    """Each fixture (Grafana 9 with valueString only, Grafana 11 with values) gives one event
    per alert with exactly the expected labels, links, values, times and fingerprint."""
    events = _parse(load(name).payload)
    assert len(events) == len(CASES[name])
    for event, case in zip(events, CASES[name], strict=True):
        assert_event(event, case)


def test_fixture_text_parses_like_its_objects() -> None:
    """The raw body (as the webhook path reads it) gives the same events as its JSON."""
    for name in CASES:
        raw = load(name).body.decode()
        from_text = [e.model_dump(exclude={"id", "received_at"}) for e in _parse(JsonDocument(raw))]
        from_json = [
            e.model_dump(exclude={"id", "received_at"}) for e in _parse(load(name).payload)
        ]
        assert from_text == from_json


def test_bearer_or_basic_token_is_required_when_configured() -> None:
    """The contact point's Authorization header (Bearer) or Basic password passes; a wrong or
    missing one is refused; with no token configured every post passes."""
    auth = SourceAuth(token=SecretStr("gf-token"))
    SOURCE.verify({"authorization": "Bearer gf-token"}, b"{}", auth)
    # Basic auth settings of the contact point: username grafana, password gf-token.
    SOURCE.verify({"authorization": "Basic Z3JhZmFuYTpnZi10b2tlbg=="}, b"{}", auth)
    for headers in ({}, {"authorization": "Bearer other"}, {"authorization": "Basic YTpi"}):
        with pytest.raises(Unauthorized):
            SOURCE.verify(headers, b"{}", auth)
    SOURCE.verify({}, b"{}", SourceAuth())
    assert SOURCE.delivery_id({"authorization": "Bearer gf-token"}) is None


def test_only_http_urls_are_kept_as_links() -> None:
    """A generatorURL or silence/dashboard/panel/image URL that is not absolute http(s) is
    dropped, not kept as a link; the http(s) ones stay."""
    doc = payload(V11)
    alert = doc["alerts"][0]
    alert.update(
        generatorURL="javascript:alert(1)",
        silenceURL="/alerting/silence/new",
        dashboardURL="data:text/html,hi",
        panelURL="HTTPS://grafana.example.com/d/x?viewPanel=2",
        imageURL="https://",
    )
    (event,) = _parse(doc)
    assert event.url is None
    links = {k: v for k, v in event.annotations.items() if k.endswith("URL")}
    assert links == {
        "externalURL": "https://play.grafana.org/",
        "panelURL": "HTTPS://grafana.example.com/d/x?viewPanel=2",
    }


def test_values_are_listed_and_null_values_accepted() -> None:
    """`values` reads as name=value in its order (integers without a fraction, others as
    written); Go's null for a rule without values gives no annotation."""
    doc = payload(V11)
    doc["alerts"][0]["values"] = {"B": 0.25, "A": 1e20, "C": -3}
    assert _parse(doc)[0].annotations["values"] == "B=0.25, A=1e+20, C=-3"
    doc["alerts"][0]["values"] = None
    assert "values" not in _parse(doc)[0].annotations


@pytest.mark.parametrize("number", ["1e400", "-1e400", "9" * 5000])
def test_a_value_beyond_a_float_is_malformed_naming_it(number: str) -> None:
    """A query value past what a float holds is Malformed naming alerts.0.values.A."""
    doc = payload(V11)
    doc["alerts"][0]["values"]["A"] = RawNumber(number)
    with pytest.raises(Malformed, match=r"alerts\.0\.values\.A"):
        _parse(JsonDocument(dumps(doc).decode()))


@pytest.mark.parametrize(("where", "field"), [((), "orgId"), (("alerts", 0), "orgId")])
def test_an_org_id_beyond_64_bits_is_malformed_naming_it(
    where: tuple[Any, ...], field: str
) -> None:
    """orgId (the group's or an alert's) past a signed 64-bit integer is Malformed naming it."""
    doc = payload(V11)
    target = doc
    for step in where:
        target = target[step]
    target[field] = 2**63
    name = ".".join(map(str, (*where, field)))
    with pytest.raises(Malformed, match=rf"{name}: beyond the signed 64-bit range"):
        _parse(doc)


def test_an_alerts_own_org_id_wins_over_the_groups() -> None:
    """org_id comes from the alert's orgId when it has one, else the notification's; an
    alert label of that name is kept as it is."""
    doc = payload(V11)
    doc["alerts"][0]["orgId"] = 7
    assert _parse(doc)[0].labels["org_id"] == "7"
    doc["alerts"][0]["labels"]["org_id"] = "mine"
    assert _parse(doc)[0].labels["org_id"] == "mine"


@pytest.mark.parametrize(
    ("labels", "project"),
    [
        ({"project": "pay", "job": "node", "grafana_folder": "infra"}, "pay"),
        ({"service": "api", "grafana_folder": "infra"}, "api"),
        ({"grafana_folder": "infra"}, "infra"),
        ({}, "Debug webhook"),
    ],
)
def test_project_is_project_job_service_then_folder_then_receiver(
    labels: dict[str, str], project: str
) -> None:
    """The project label is the alert's project, job or service label, else the folder of its
    rule (grafana_folder), else the contact point's name."""
    doc = payload(V11)
    doc["alerts"][0]["labels"] = {"alertname": "X", **labels}
    assert _parse(doc)[0].labels["project"] == project


def test_fingerprint_is_computed_when_missing() -> None:
    """Without a fingerprint the event's is Alertmanager's hash of the alert's labels, the
    same for its firing and resolved posts."""
    doc = payload(RESOLVED_V9)
    del doc["alerts"][0]["fingerprint"]
    resolved = _parse(doc)[0]
    doc["alerts"][0]["status"] = "firing"
    assert resolved.fingerprint == _parse(doc)[0].fingerprint
    assert resolved.fingerprint == label_fingerprint({"alertname": "Test alert", "test": "true"})


def test_the_groups_message_stays_off_the_events_of_a_larger_group() -> None:
    """Grafana's message describes the whole notification: kept on the event of a one-alert
    notification, left off each event of a group of several (it would be copied N times)."""
    assert all("grafana_message" not in e.annotations for e in _parse(load(MIXED_V9).payload))
    doc = payload(MIXED_V9)
    doc["alerts"] = doc["alerts"][:1]
    assert _parse(doc)[0].annotations["grafana_message"] == doc["message"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"version": "4"}, "post it to /hooks/alertmanager"),
        ({"version": None, "ruleName": "cpu", "evalMatches": []}, "legacy (dashboard) alerting"),
        ({"version": None}, "no version"),
        ({"version": "2"}, "version '2'"),
    ],
)
def test_other_payloads_are_malformed_saying_what_they_are(
    change: dict[str, Any], said: str
) -> None:
    """An Alertmanager payload, a legacy alerting payload, or another version is Malformed
    with a reason saying which it is and what Signalbox reads."""
    doc = {**payload(V11), **change}
    if change.get("version") is None:
        del doc["version"]
    if "ruleName" in change:
        del doc["alerts"]
    with pytest.raises(Malformed, match=re.escape(said)):
        _parse(doc)


def test_a_notification_without_alerts_is_ignored() -> None:
    """A group with an empty alerts list is Ignored (nothing to tell)."""
    doc = payload(RESOLVED_V9)
    doc["alerts"] = []
    with pytest.raises(Ignored):
        _parse(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(CASES)))
def test_mutated_fixtures_give_events_or_a_refusal(data: st.DataObject, name: str) -> None:
    """Fixtures with keys dropped or values replaced yield events, Ignored or Malformed only."""
    doc = data.draw(mutated(load(name).payload))
    parses_or_refuses(lambda: _parse(doc))
