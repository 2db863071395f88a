"""Jenkins source: Bearer or Basic token (also over HTTP), shape detection, every fixture parsed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from app.sources.base import Malformed, SourceAuth, Unauthorized
from app.sources.jenkins import OUTBOUND_EVENTS, RESULTS, SOURCE, job_path
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
from service import LOG_ONLY, serve

NOTIFICATION = "jenkins/notification_plugin.completed.success.json"
OUTBOUND = "jenkins/outbound_webhook_plugin.success.json"
MESSAGE_CARDS = sorted(name for name in fixture_files("jenkins") if "office365" in name)

CASES: dict[str, Case] = {
    "jenkins/notification_plugin.completed.success.json": Case(
        labels={
            "source": "jenkins",
            "kind": "pipeline",
            "status": "success",
            "project": "asgard",
            "pipeline": "asgard",
            "branch": "master",
            "commit": "c6d86dc654b12425e706bcf951adfe5a8627a517",
            "plugin": "notification",
            "phase": "COMPLETED",
            "build_number": "18",
        },
        title="asgard #18 succeeded on master",
        url="http://localhost:8080/job/asgard/18/",
        run=("asgard#18", 18),
        times=(None, None, None),
        fingerprint="jenkins:asgard:asgard:asgard#18:success",
        annotations={},
    ),
    "jenkins/outbound_webhook_plugin.success.json": Case(
        labels={
            "source": "jenkins",
            "kind": "pipeline",
            "status": "success",
            "project": "test job",
            "pipeline": "test job",
            "plugin": "outbound-webhook",
            "event": "success",
            "build_number": "16",
        },
        title="test job #16 succeeded",
        url="http://my-jenkins-url.com/job/test%20job/16/",
        run=("test job#16", 16),
        times=(None, None, None),
        fingerprint="jenkins:test job:test job:test job#16:success",
        annotations={},
    ),
}


def _parse_one(doc: Any) -> Any:
    events = SOURCE.parse({}, doc)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expectation() -> None:
    """Every Jenkins fixture file (and every index.json entry) is covered by a case here."""
    covered = set(CASES) | set(MESSAGE_CARDS)
    assert covered == fixture_files("jenkins")
    assert {name for name in index() if name.startswith("jenkins/")} <= covered


def basic(userinfo: str) -> dict[str, str]:
    """The header the Notification plugin sends for `http://<userinfo>@host/...`: the raw
    user-info, %-escapes and all, base64-encoded (Protocol.java)."""
    return {"authorization": "Basic " + base64.b64encode(userinfo.encode()).decode()}


def test_bearer_or_basic_token_is_required_when_configured() -> None:
    """Bearer, or Basic with the token as password under any user name, passes; a wrong,
    missing, user-only or undecodable credential is refused; nothing configured passes."""
    auth = SourceAuth(token=SecretStr("s3cret"))
    for good in ("Bearer s3cret", "bearer s3cret", basic("jenkins:s3cret")["authorization"]):
        SOURCE.verify({"authorization": good}, b"{}", auth)
    SOURCE.verify(basic(":s3cret"), b"{}", auth)
    refused = [
        {},
        {"authorization": "Bearer nope"},
        {"authorization": "Basic czNjcmV0"},  # "s3cret" without a user:password colon
        {"authorization": "Basic not*base64"},
        {"authorization": "Token s3cret"},
        basic("s3cret:nope"),
        basic("jenkins:s3cret2"),
    ]
    for headers in refused:
        with pytest.raises(Unauthorized):
            SOURCE.verify(headers, b"{}", auth)
    SOURCE.verify({}, b"{}", SourceAuth())


TOKEN = "t0k/en@ci:1"
ROUTES = LOG_ONLY.replace('jenkins: { token: "jk-token" }', f'jenkins: {{ token: "{TOKEN}" }}')


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with serve(tmp_path_factory.mktemp("jenkins"), ROUTES) as c:
        yield c


def post(client: httpx.Client, name: str, headers: dict[str, str]) -> httpx.Response:
    fixture = load(name)
    headers = {"content-type": "application/json;charset=UTF-8", **headers}
    return client.post("/hooks/jenkins", content=fixture.body, headers=headers)


@pytest.mark.parametrize(
    "userinfo",
    [
        "jenkins:" + quote(TOKEN, safe=""),  # how the token must be written in a URL
        "signalbox:" + TOKEN,  # unescaped, as Alertmanager's basic_auth sends it
        ":" + quote(TOKEN, safe=""),
    ],
)
def test_notification_plugin_url_user_info_authenticates(
    client: httpx.Client, userinfo: str
) -> None:
    """The Basic header the Notification plugin makes of `http://user:TOKEN@host` is accepted
    over HTTP, whatever the user name, with the token %-escaped or not."""
    answer = post(client, NOTIFICATION, basic(userinfo))
    assert answer.status_code == 202, answer.text


def test_bearer_still_authenticates_and_wrong_basic_is_refused(client: httpx.Client) -> None:
    """Bearer keeps working; a wrong Basic password or a bare token as user is 401 over HTTP."""
    assert post(client, OUTBOUND, {"authorization": f"Bearer {TOKEN}"}).status_code == 202
    for userinfo in (f"jenkins:{TOKEN}x", "jenkins:", quote(TOKEN, safe="")):
        refused = post(client, NOTIFICATION, basic(userinfo))
        assert refused.status_code == 401, userinfo
        assert refused.json()["error"] == "unauthorized"
        assert TOKEN not in refused.text


def test_there_is_no_delivery_id() -> None:
    """Jenkins plugins send no delivery id header, so none is reported."""
    assert SOURCE.delivery_id({"x-request-id": "abc"}) is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_parses_to_the_expected_event(name: str) -> None:
    """Each supported fixture gives exactly the expected labels, title, url, times and ids."""
    assert_event(_parse_one(load(name).payload), CASES[name])


@pytest.mark.parametrize("name", MESSAGE_CARDS)
def test_office365_message_cards_are_malformed_with_a_pointer(name: str) -> None:
    """An Office 365 connector card is refused, saying what it is and which plugins work."""
    with pytest.raises(Malformed, match="Office 365 connector MessageCard") as refusal:
        SOURCE.parse({}, load(name).payload)
    assert "Notification plugin" in str(refusal.value)
    assert "Outbound WebHook plugin" in str(refusal.value)


@pytest.mark.parametrize("doc", [{"hello": "world"}, [1, 2], "text", None])
def test_unknown_shapes_are_malformed_naming_the_supported_ones(doc: Any) -> None:
    """A body of neither supported shape is Malformed, naming both supported plugins."""
    with pytest.raises(Malformed, match=r"Notification plugin .* Outbound WebHook plugin"):
        SOURCE.parse({}, doc)


@pytest.mark.parametrize(("result", "status"), sorted(RESULTS.items()))
def test_every_result_maps_as_documented(result: str, status: str) -> None:
    """A COMPLETED or FINALIZED build with each Jenkins result gets the documented status."""
    for phase in ("COMPLETED", "FINALIZED"):
        doc = payload(NOTIFICATION)
        doc["build"].update(phase=phase, status=result)
        assert _parse_one(doc).status == status


def test_queued_and_started_phases_need_no_status() -> None:
    """QUEUED and STARTED builds (sent without status) are queued and running."""
    for phase, status in (("QUEUED", "queued"), ("STARTED", "running")):
        doc = payload(NOTIFICATION)
        doc["build"]["phase"] = phase
        del doc["build"]["status"]
        event = _parse_one(doc)
        assert (event.status, event.labels["phase"]) == (status, phase)
        assert event.fingerprint == f"jenkins:asgard:asgard:asgard#18:{status}"


def test_completed_without_status_is_malformed() -> None:
    """A finished build without a result is refused rather than guessed."""
    doc = payload(NOTIFICATION)
    del doc["build"]["status"]
    with pytest.raises(Malformed, match=r"COMPLETED without build\.status"):
        SOURCE.parse({}, doc)


def test_timestamp_and_duration_give_start_end_and_seconds() -> None:
    """Current plugin versions' timestamp/duration (ms) become started/finished/duration_s."""
    doc = payload(NOTIFICATION)
    doc["build"].update(timestamp=1_700_000_000_000, duration=90_500)
    event = _parse_one(doc)
    assert event.started_at is not None and event.finished_at is not None
    assert event.started_at.isoformat() == "2023-11-14T22:13:20+00:00"
    assert event.finished_at.isoformat() == "2023-11-14T22:14:50.500000+00:00"
    assert event.duration_s == 90.5


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("origin/master", "master"),
        ("refs/heads/release/1.x", "release/1.x"),
        ("refs/remotes/origin/feature/a", "feature/a"),
        ("main", "main"),
    ],
)
def test_branch_loses_its_remote_prefix(branch: str, expected: str) -> None:
    """scm.branch as the Git plugin reports it becomes the bare branch name."""
    doc = payload(NOTIFICATION)
    doc["build"]["scm"]["branch"] = branch
    assert _parse_one(doc).labels["branch"] == expected


def test_folder_jobs_use_their_full_name() -> None:
    """A job inside folders is named by its full path, taken from the job URL."""
    doc = payload(NOTIFICATION)
    doc.update(name="app", url="job/team%20a/job/app/")
    event = _parse_one(doc)
    assert (event.labels["project"], event.labels["pipeline"]) == ("team a/app", "team a/app")
    assert event.run_id == "team a/app#18"
    assert job_path("https://ci.example.com/job/x/job/feature%252Fy/7/") == "x/feature%2Fy"


@pytest.mark.parametrize(("event", "status"), sorted(OUTBOUND_EVENTS.items()))
def test_every_outbound_event_maps_as_documented(event: str, status: str) -> None:
    """Each Outbound WebHook `event` value gets the documented status."""
    doc = payload(OUTBOUND)
    doc["event"] = event
    assert _parse_one(doc).status == status


def test_outbound_build_number_falls_back_to_the_url() -> None:
    """A renamed build (buildName not "#N") takes its number from buildNumber or the URL."""
    doc = payload(OUTBOUND)
    doc["buildName"] = "release candidate"
    assert _parse_one(doc).run_order == 16
    doc["buildNumber"] = 17
    assert _parse_one(doc).run_order == 17
    del doc["buildNumber"], doc["buildUrl"]
    with pytest.raises(Malformed, match="no buildNumber"):
        SOURCE.parse({}, doc)


def test_fingerprint_is_stable_and_tracks_build_and_status() -> None:
    """Parsing twice gives one fingerprint; another build number or result gives another."""
    first = _parse_one(payload(NOTIFICATION)).fingerprint
    assert first == _parse_one(payload(NOTIFICATION)).fingerprint
    failed, later = payload(NOTIFICATION), payload(NOTIFICATION)
    failed["build"]["status"] = "FAILURE"
    later["build"]["number"] = 19
    assert len({first, _parse_one(failed).fingerprint, _parse_one(later).fingerprint}) == 3
    assert _parse_one(later).run_order == 19


@settings(max_examples=300, deadline=None)
@given(doc=JSON_VALUES)
def test_random_json_gives_events_or_a_refusal(doc: Any) -> None:
    """Any JSON value yields events or Malformed only."""
    parses_or_refuses(lambda: SOURCE.parse({}, doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(fixture_files("jenkins"))))
def test_mutated_fixtures_give_events_or_a_refusal(data: st.DataObject, name: str) -> None:
    """Fixtures with keys dropped or values replaced yield events or Malformed only."""
    doc = data.draw(mutated(load(name).payload))
    parses_or_refuses(lambda: SOURCE.parse({}, doc))
