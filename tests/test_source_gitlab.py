"""GitLab source: X-Gitlab-Token, delivery ids, and every GitLab fixture parsed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from app.sources.base import Ignored, Malformed, SourceAuth, Unauthorized
from app.sources.gitlab import DEPLOYMENT_STATUSES, HANDLERS, SOURCE, STATUSES
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

MR_CAPTURE = "gitlab/captures/merge_request_hook.capture.json"
# The capture's token is the test secret published with it (see SOURCES.md).
CAPTURE_TOKEN = "402786017574bd28f9d8f7a18648939751c47fe09077d56e10f0444f14fbb73b"

CASES: dict[str, Case] = {
    "gitlab/deployment_hook.success.json": Case(
        labels={
            "source": "gitlab",
            "kind": "deployment",
            "status": "success",
            "project": "root/test-deployment-webhooks",
            "pipeline": "staging",
            "branch": "1.0.0",
            "environment": "staging",
            "actor": "user1",
            "commit": "279484c09fbe69ededfced8c1bb6e6d24616b468",
            "ref": "1.0.0",
            "deployment_id": "15",
        },
        title="root/test-deployment-webhooks · deployment to staging succeeded on 1.0.0",
        url="http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
        run=(None, None),
        times=(None, "2021-04-28T21:50:00+02:00", None),
        fingerprint="gitlab:root/test-deployment-webhooks:staging:15:success",
        annotations={
            "commit_title": "Add new file",
            "environment_url": "https://staging.example.com",
        },
    ),
    "gitlab/job_hook.build_created.json": Case(
        labels={
            "source": "gitlab",
            "kind": "job",
            "status": "queued",
            "project": "gitlab-org/gitlab-test",
            "pipeline": "gitlab-org/gitlab-test",
            "branch": "gitlab-script-trigger",
            "actor": "user1",
            "commit": "2293ada6b400935a1378653304eaf6221e0fdb8f",
            "ref": "gitlab-script-trigger",
            "tag": "false",
            "job": "test",
            "stage": "test",
            "pipeline_id": "2366",
            "allow_failure": "false",
        },
        title="gitlab-org/gitlab-test · test #1977 queued on gitlab-script-trigger",
        url="http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/1977",
        run=("1977", 1977),
        times=(None, None, None),
        fingerprint="gitlab:gitlab-org/gitlab-test:gitlab-org/gitlab-test:1977:queued",
        annotations={},
    ),
    "gitlab/job_hook.build_failed.json": Case(
        labels={
            "source": "gitlab",
            "kind": "job",
            "status": "failure",
            "project": "android-team/tindahannimama/dispatcher-app",
            "pipeline": "android-team/tindahannimama/dispatcher-app",
            "actor": "razylvidal",
            "commit": "a811f8ab22f7c28183a28a595b034ec8bc85b935",
            "ref": "t2_dispatcher_review_vR.13",
            "tag": "true",
            "job": "publish-badge",
            "stage": "badge",
            "pipeline_id": "53093",
            "allow_failure": "true",
        },
        title="android-team/tindahannimama/dispatcher-app · publish-badge #473579 failed",
        url="https://gitlab.com/android-team/dispatcher-app/-/jobs/473579",
        run=("473579", 473579),
        times=("2024-06-11T03:13:06+00:00", "2024-06-11T03:13:44+00:00", 38.371629),
        fingerprint="gitlab:android-team/tindahannimama/dispatcher-app:android-team/tindahannimama/dispat"
        "cher-app:473579:failure",
        annotations={"failure_reason": "script_failure"},
    ),
    "gitlab/job_hook.build_pending.json": Case(
        labels={
            "source": "gitlab",
            "kind": "job",
            "status": "queued",
            "project": "android-team/dispatcher-app",
            "pipeline": "android-team/dispatcher-app",
            "branch": "main",
            "actor": "razylvidal",
            "commit": "a811f8ab22f7c28183a28a595b034ec8bc85b935",
            "ref": "main",
            "tag": "false",
            "job": "unit-test",
            "stage": "test",
            "pipeline_id": "53093",
        },
        title="android-team/dispatcher-app · unit-test #473580 queued on main",
        url="https://gitlab.com/android-team/dispatcher-app/-/jobs/473580",
        run=("473580", 473580),
        times=(None, None, None),
        fingerprint="gitlab:android-team/dispatcher-app:android-team/dispatcher-app:473580:queued",
        annotations={},
    ),
    "gitlab/job_hook.build_running.json": Case(
        labels={
            "source": "gitlab",
            "kind": "job",
            "status": "running",
            "project": "android-team/dispatcher-app",
            "pipeline": "android-team/dispatcher-app",
            "branch": "main",
            "actor": "razylvidal",
            "commit": "a811f8ab22f7c28183a28a595b034ec8bc85b935",
            "ref": "main",
            "tag": "false",
            "job": "unit-test",
            "stage": "test",
            "pipeline_id": "53093",
        },
        title="android-team/dispatcher-app · unit-test #473580 running on main",
        url="https://gitlab.com/android-team/dispatcher-app/-/jobs/473580",
        run=("473580", 473580),
        times=(None, None, 10.5),
        fingerprint="gitlab:android-team/dispatcher-app:android-team/dispatcher-app:473580:running",
        annotations={},
    ),
    "gitlab/job_hook.build_success.json": Case(
        labels={
            "source": "gitlab",
            "kind": "job",
            "status": "success",
            "project": "jsmithy2/release-tools-fake",
            "pipeline": "Build pipeline",
            "branch": "main",
            "environment": "production",
            "actor": "jsmithy2",
            "commit": "95d49d1efbd941908580e79d65e4b5ecaf4a8305",
            "ref": "main",
            "tag": "false",
            "job": "auto_deploy:start",
            "stage": "coordinated:tag",
            "pipeline_id": "743121198",
            "allow_failure": "false",
        },
        title="jsmithy2/release-tools-fake · Build pipeline · auto_deploy:start #3580121225"
        " succeeded on main",
        url="https://gitlab.com/jsmithy2/release-tools-fake/-/jobs/3580121225",
        run=("3580121225", 3580121225),
        times=("2023-01-10T13:50:05+00:00", "2023-01-10T13:50:54+00:00", 49.503592),
        fingerprint="gitlab:jsmithy2/release-tools-fake:Build pipeline:3580121225:success",
        annotations={},
    ),
    "gitlab/pipeline_hook.failed.json": Case(
        labels={
            "source": "gitlab",
            "kind": "pipeline",
            "status": "failure",
            "project": "android-team/customer-app",
            "pipeline": "android-team/customer-app",
            "branch": "main",
            "actor": "raquezha",
            "commit": "e2b9fff8bb1f4a7c7036b348963358bd74457cc2",
            "ref": "main",
            "tag": "false",
            "pipeline_id": "53480",
            "pipeline_iid": "2924",
            "pipeline_source": "push",
        },
        title="android-team/customer-app · pipeline #53480 failed on main",
        url="https://gitlab.com/android-team/customer-app/-/pipelines/53480",
        run=("53480", 53480),
        times=("2024-06-19T02:20:18+00:00", "2024-06-19T03:06:41+00:00", 64.0),
        fingerprint="gitlab:android-team/customer-app:android-team/customer-app:53480:failure",
        annotations={},
    ),
    "gitlab/pipeline_hook.running.json": Case(
        labels={
            "source": "gitlab",
            "kind": "pipeline",
            "status": "running",
            "project": "android-team/customer-app",
            "pipeline": "android-team/customer-app",
            "branch": "main",
            "actor": "raquezha",
            "commit": "e2b9fff8bb1f4a7c7036b348963358bd74457cc2",
            "ref": "main",
            "tag": "false",
            "pipeline_id": "53479",
            "pipeline_iid": "2923",
            "pipeline_source": "push",
        },
        title="android-team/customer-app · pipeline #53479 running on main",
        url="https://gitlab.com/android-team/customer-app/-/pipelines/53479",
        run=("53479", 53479),
        times=("2024-06-19T02:20:18+00:00", None, None),
        fingerprint="gitlab:android-team/customer-app:android-team/customer-app:53479:running",
        annotations={},
    ),
    "gitlab/pipeline_hook.success.json": Case(
        labels={
            "source": "gitlab",
            "kind": "pipeline",
            "status": "success",
            "project": "gitlab-org/gitlab-test",
            "pipeline": "gitlab-org/gitlab-test",
            "branch": "master",
            "actor": "user1",
            "commit": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "author_email": "user@gitlab.com",
            "ref": "master",
            "tag": "false",
            "pipeline_id": "31",
            "pipeline_iid": "123",
            "pipeline_source": "merge_request_event",
        },
        title="gitlab-org/gitlab-test · pipeline #31 succeeded on master",
        url="http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31",
        run=("31", 31),
        times=("2016-08-12T15:23:28+00:00", "2016-08-12T15:26:29+00:00", 63.0),
        fingerprint="gitlab:gitlab-org/gitlab-test:gitlab-org/gitlab-test:31:success",
        annotations={},
    ),
    "gitlab/pipeline_hook.success.modern.json": Case(
        labels={
            "source": "gitlab",
            "kind": "pipeline",
            "status": "success",
            "project": "android-team/customer-app",
            "pipeline": "android-team/customer-app",
            "branch": "main",
            "actor": "raquezha",
            "commit": "e2b9fff8bb1f4a7c7036b348963358bd74457cc2",
            "ref": "main",
            "tag": "false",
            "pipeline_id": "53481",
            "pipeline_iid": "2925",
            "pipeline_source": "push",
        },
        title="android-team/customer-app · pipeline #53481 succeeded on main",
        url="https://gitlab.com/android-team/customer-app/-/pipelines/53481",
        run=("53481", 53481),
        times=("2024-06-19T02:20:18+00:00", "2024-06-19T03:10:00+00:00", 178.0),
        fingerprint="gitlab:android-team/customer-app:android-team/customer-app:53481:success",
        annotations={},
    ),
}
IGNORED: dict[str, str] = {
    MR_CAPTURE: "GitLab event 'Merge Request Hook' is not handled",
    "gitlab/push_hook.json": "GitLab event 'Push Hook' is not handled",
}
HEADERS = {"pipeline": "Pipeline Hook", "build": "Job Hook", "deployment": "Deployment Hook"}


def _auth(token: str | None) -> SourceAuth:
    return SourceAuth(token=SecretStr(token) if token is not None else None)


def _parse_one(name: str, doc: Any = None, headers: dict[str, str] | None = None) -> Any:
    delivery = load(name)
    events = SOURCE.parse(headers or delivery.headers, delivery.payload if doc is None else doc)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expectation() -> None:
    """Every GitLab fixture file (and every index.json entry) is covered by a case here."""
    covered = set(CASES) | set(IGNORED)
    assert covered == fixture_files("gitlab")
    assert {name for name in index() if name.startswith("gitlab/")} <= covered


def test_real_capture_token_verifies() -> None:
    """The real delivery's X-Gitlab-Token matches its published secret; other tokens do not."""
    delivery = load(MR_CAPTURE)
    SOURCE.verify(delivery.headers, delivery.body, _auth(CAPTURE_TOKEN))
    with pytest.raises(Unauthorized):
        SOURCE.verify(delivery.headers, delivery.body, _auth(CAPTURE_TOKEN[:-1] + "c"))
    with pytest.raises(Unauthorized, match="missing X-Gitlab-Token"):
        SOURCE.verify({}, delivery.body, _auth(CAPTURE_TOKEN))


def test_no_token_configured_accepts_every_post() -> None:
    """Without a configured token every post is accepted, with or without X-Gitlab-Token."""
    SOURCE.verify({}, b"{}", _auth(None))
    SOURCE.verify({"x-gitlab-token": "whatever"}, b"{}", SourceAuth())


def test_delivery_id_prefers_idempotency_key() -> None:
    """The delivery id is Idempotency-Key, else X-Gitlab-Event-UUID, else None."""
    headers = load(MR_CAPTURE).headers
    assert SOURCE.delivery_id(headers) == "fde843d3-c383-4a02-b86a-ac9eb7204232"
    without_key = {k: v for k, v in headers.items() if k != "idempotency-key"}
    assert SOURCE.delivery_id(without_key) == "50ad7229-e77b-42ff-bd60-01a457b1f853"
    assert SOURCE.delivery_id({}) is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_parses_to_the_expected_event(name: str) -> None:
    """Each supported fixture gives exactly the expected labels, title, url, times and ids."""
    assert_event(_parse_one(name), CASES[name])


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_unsupported_events_are_ignored_with_a_reason(name: str) -> None:
    """Push and Merge Request hooks are answered Ignored, naming the event."""
    delivery = load(name)
    with pytest.raises(Ignored, match=IGNORED[name]):
        SOURCE.parse(delivery.headers, delivery.payload)


def test_legacy_build_hook_header_parses_like_job_hook() -> None:
    """Job events sent as "Build Hook" by older GitLab parse exactly like "Job Hook"."""
    name = "gitlab/job_hook.build_failed.json"
    legacy = _parse_one(name, headers={"x-gitlab-event": "Build Hook"})
    assert legacy.labels == _parse_one(name).labels


def test_header_and_object_kind_must_agree() -> None:
    """A Pipeline Hook header over a job payload, or no header at all, is Malformed."""
    doc = payload("gitlab/job_hook.build_failed.json")
    with pytest.raises(Malformed, match="object_kind 'pipeline', got 'build'"):
        SOURCE.parse({"x-gitlab-event": "Pipeline Hook"}, doc)
    with pytest.raises(Malformed, match="X-Gitlab-Event"):
        SOURCE.parse({}, doc)


def test_canceled_pipeline_is_cancelled() -> None:
    """A pipeline whose status is canceled becomes a finished cancelled pipeline event."""
    doc = payload("gitlab/pipeline_hook.failed.json")
    doc["object_attributes"]["status"] = "canceled"
    event = _parse_one("gitlab/pipeline_hook.failed.json", doc)
    assert event.status == "cancelled"
    assert event.title == "android-team/customer-app · pipeline #53480 cancelled on main"
    assert event.fingerprint == (
        "gitlab:android-team/customer-app:android-team/customer-app:53480:cancelled"
    )


def test_named_pipeline_uses_its_name() -> None:
    """A pipeline with a workflow name is labelled and titled by that name, not the project."""
    doc = payload("gitlab/pipeline_hook.failed.json")
    doc["object_attributes"]["name"] = "夜间构建"
    event = _parse_one("gitlab/pipeline_hook.failed.json", doc)
    assert event.labels["pipeline"] == "夜间构建"
    assert event.title == "android-team/customer-app · 夜间构建 #53480 failed on main"


def test_fingerprint_is_stable_and_differs_across_runs() -> None:
    """Parsing twice gives one fingerprint; the running and failed pipelines differ."""
    failed = _parse_one("gitlab/pipeline_hook.failed.json")
    assert failed.fingerprint == _parse_one("gitlab/pipeline_hook.failed.json").fingerprint
    assert failed.fingerprint != _parse_one("gitlab/pipeline_hook.running.json").fingerprint
    assert failed.run_order is not None and failed.run_order > 53479


@pytest.mark.parametrize(("gitlab_status", "status"), sorted(STATUSES.items()))
def test_every_job_status_maps_as_documented(gitlab_status: str, status: str) -> None:
    """A job in each known GitLab status gets the documented status."""
    doc = payload("gitlab/job_hook.build_success.json")
    doc["build_status"] = gitlab_status
    assert _parse_one("gitlab/job_hook.build_success.json", doc).status == status


@pytest.mark.parametrize(("gitlab_status", "status"), sorted(DEPLOYMENT_STATUSES.items()))
def test_every_deployment_status_maps_as_documented(gitlab_status: str, status: str) -> None:
    """A deployment in each known status gets the documented status; only finished ones end."""
    doc = payload("gitlab/deployment_hook.success.json")
    doc["status"] = gitlab_status
    event = _parse_one("gitlab/deployment_hook.success.json", doc)
    assert event.status == status
    assert (event.finished_at is None) == (status in ("queued", "running"))


def test_unknown_status_is_malformed_naming_it() -> None:
    """An unknown pipeline status is Malformed, naming the field and the value."""
    doc = payload("gitlab/pipeline_hook.running.json")
    doc["object_attributes"]["status"] = "exploded"
    with pytest.raises(Malformed, match=r"object_attributes\.status 'exploded'"):
        _parse_one("gitlab/pipeline_hook.running.json", doc)


@settings(max_examples=200, deadline=None)
@given(event=st.sampled_from(sorted(HANDLERS)), doc=JSON_VALUES)
def test_random_json_gives_events_or_a_refusal(event: str, doc: Any) -> None:
    """Any JSON value under any handled event header yields events, Ignored or Malformed only."""
    parses_or_refuses(lambda: SOURCE.parse({"x-gitlab-event": event}, doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(CASES)))
def test_mutated_fixtures_give_events_or_a_refusal(data: st.DataObject, name: str) -> None:
    """Fixtures with keys dropped or values replaced yield events, Ignored or Malformed only."""
    delivery = load(name)
    doc = data.draw(mutated(delivery.payload))
    parses_or_refuses(lambda: SOURCE.parse(delivery.headers, doc))
