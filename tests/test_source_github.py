"""GitHub source: X-Hub-Signature-256, delivery ids, and every GitHub fixture parsed."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from app.events import SOURCES
from app.routing.schema import SourcesSpec
from app.sources import SOURCE_MODULES
from app.sources.base import Ignored, Malformed, SourceAuth, Unauthorized
from app.sources.github import CONCLUSIONS, DEPLOYMENT_STATES, HANDLERS, PROGRESS, SOURCE
from fixtures import (
    JSON_VALUES,
    REPO,
    Case,
    assert_event,
    fixture_files,
    index,
    load,
    mutated,
    parses_or_refuses,
    payload,
)

# Published by Cogni-DAO/cogni-git-review as the secret its captures were signed with.
CAPTURE_SECRET = "402786017574bd28f9d8f7a18648939751c47fe09077d56e10f0444f14fbb73b"
CAPTURES = sorted(name for name in fixture_files("github") if "/captures/" in name)

CASES: dict[str, Case] = {
    "github/captures/check_run.completed.skipped.capture.json": Case(
        labels={
            "source": "github",
            "kind": "job",
            "status": "skipped",
            "project": "derekg1729/test-repo",
            "pipeline": "GitHub Actions",
            "branch": "e2e-test-1760227487027",
            "actor": "derekg1729",
            "commit": "a69811586879ea72cb7657e555fcdb45cf96c6d6",
            "github_event": "check_run",
            "repository_owner": "derekg1729",
            "app": "GitHub Actions",
            "job": "OpenSSF Scorecard (weekly)",
            "check_suite_id": "47422842078",
        },
        title="derekg1729/test-repo · GitHub Actions · OpenSSF Scorecard (weekly) skipped"
        " on e2e-test-1760227487027",
        url="https://github.com/derekg1729/test-repo/actions/runs/18436407476/job/52530363735",
        run=("52530363735", 52530363735),
        times=("2025-10-12T00:04:54+00:00", "2025-10-12T00:04:54+00:00", 0.0),
        fingerprint="github:derekg1729/test-repo:GitHub Actions:52530363735:skipped",
        annotations={},
    ),
    "github/captures/check_suite.completed.capture.json": Case(
        labels={
            "source": "github",
            "kind": "pipeline",
            "status": "success",
            "project": "derekg1729/test-repo",
            "pipeline": "GitHub Actions",
            "branch": "e2e-test-1760227487027",
            "actor": "derekg1729",
            "commit": "a69811586879ea72cb7657e555fcdb45cf96c6d6",
            "github_event": "check_suite",
            "repository_owner": "derekg1729",
            "app": "GitHub Actions",
        },
        title="derekg1729/test-repo · GitHub Actions succeeded on e2e-test-1760227487027",
        url="https://github.com/derekg1729/test-repo/commit/a69811586879ea72cb7657e555fcdb45cf96c"
        "6d6/checks",
        run=("47422842078", 47422842078),
        times=("2025-10-12T00:04:54+00:00", "2025-10-12T00:05:03+00:00", 9.0),
        fingerprint="github:derekg1729/test-repo:GitHub Actions:47422842078:success",
        annotations={},
    ),
    "github/captures/workflow_run.in_progress.capture.json": Case(
        labels={
            "source": "github",
            "kind": "pipeline",
            "status": "running",
            "project": "derekg1729/test-repo",
            "pipeline": "CodeQL",
            "branch": "refs/pull/166/head",
            "actor": "derekg1729",
            "commit": "a69811586879ea72cb7657e555fcdb45cf96c6d6",
            "author_email": "e2e@cogni.test",
            "github_event": "workflow_run",
            "repository_owner": "derekg1729",
            "workflow": "CodeQL",
            "event": "dynamic",
            "run_number": "189",
            "run_attempt": "1",
        },
        title="derekg1729/test-repo · CodeQL #189 running on refs/pull/166/head",
        url="https://github.com/derekg1729/test-repo/actions/runs/18436407157",
        run=("18436407157:1", 189),
        times=("2025-10-12T00:04:52+00:00", None, None),
        fingerprint="github:derekg1729/test-repo:CodeQL:18436407157:1:running",
        annotations={"display_title": "PR #166"},
    ),
    "github/check_run.completed.failure.json": Case(
        labels={
            "source": "github",
            "kind": "job",
            "status": "failure",
            "project": "Codertocat/Hello-World",
            "pipeline": "octocoders-linter",
            "branch": "changes",
            "actor": "Codertocat",
            "commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "github_event": "check_run",
            "repository_owner": "Codertocat",
            "app": "octocoders-linter",
            "job": "Octocoders-linter",
            "check_suite_id": "118578147",
        },
        title="Codertocat/Hello-World · octocoders-linter · Octocoders-linter failed on changes",
        url="https://github.com/Codertocat/Hello-World/runs/128620228",
        run=("128620228", 128620228),
        times=("2019-05-15T15:21:12+00:00", "2019-05-15T15:21:12+00:00", 0.0),
        fingerprint="github:Codertocat/Hello-World:octocoders-linter:128620228:failure",
        annotations={},
    ),
    "github/check_run.completed.success.json": Case(
        labels={
            "source": "github",
            "kind": "job",
            "status": "success",
            "project": "Codertocat/Hello-World",
            "pipeline": "octocoders-linter",
            "branch": "changes",
            "actor": "Codertocat",
            "commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "github_event": "check_run",
            "repository_owner": "Codertocat",
            "app": "octocoders-linter",
            "job": "Octocoders-linter",
            "check_suite_id": "118578147",
        },
        title="Codertocat/Hello-World · octocoders-linter · Octocoders-linter succeeded on changes",
        url="https://github.com/Codertocat/Hello-World/runs/128620228",
        run=("128620228", 128620228),
        times=("2019-05-15T15:21:12+00:00", "2019-05-15T15:21:12+00:00", 0.0),
        fingerprint="github:Codertocat/Hello-World:octocoders-linter:128620228:success",
        annotations={},
    ),
    "github/check_suite.completed.success.json": Case(
        labels={
            "source": "github",
            "kind": "pipeline",
            "status": "success",
            "project": "Codertocat/Hello-World",
            "pipeline": "octocoders-linter",
            "branch": "changes",
            "actor": "Codertocat",
            "commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "github_event": "check_suite",
            "repository_owner": "Codertocat",
            "app": "octocoders-linter",
        },
        title="Codertocat/Hello-World · octocoders-linter succeeded on changes",
        url="https://github.com/Codertocat/Hello-World/commit/ec26c3e57ca3a959ca5aad62de7213c562f"
        "8c821/checks",
        run=("118578147", 118578147),
        times=("2019-05-15T15:20:31+00:00", "2019-05-15T15:21:14+00:00", 43.0),
        fingerprint="github:Codertocat/Hello-World:octocoders-linter:118578147:success",
        annotations={},
    ),
    "github/deployment_status.success.json": Case(
        labels={
            "source": "github",
            "kind": "deployment",
            "status": "success",
            "project": "Codertocat/Hello-World",
            "pipeline": "production",
            "branch": "master",
            "environment": "production",
            "actor": "Codertocat",
            "commit": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
            "github_event": "deployment_status",
            "repository_owner": "Codertocat",
            "task": "deploy",
            "deployment_id": "145988746",
        },
        title="Codertocat/Hello-World · deployment to production succeeded on master",
        url="https://github.com/Codertocat/Hello-World/deployments",
        run=(None, None),
        times=("2019-05-15T15:20:53+00:00", "2019-05-15T15:20:55+00:00", 2.0),
        fingerprint="github:Codertocat/Hello-World:production:145988746:success",
        annotations={},
    ),
    "github/workflow_job.completed.failure.json": Case(
        labels={
            "source": "github",
            "kind": "job",
            "status": "failure",
            "project": "Codertocat/Hello-World",
            "pipeline": "CodeQL",
            "branch": "main",
            "actor": "Codertocat",
            "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "github_event": "workflow_job",
            "repository_owner": "Octocoders",
            "workflow": "CodeQL",
            "job": "linters",
            "workflow_run_id": "2202229078",
            "run_attempt": "1",
            "runner": "GitHub Actions 5",
        },
        title="Codertocat/Hello-World · CodeQL · linters failed on main",
        url="https://github.com/octo-org/octo-repo/runs/1291536064",
        run=("289782451", 289782451),
        times=("2021-08-05T10:34:58+00:00", "2021-08-05T10:38:16+00:00", 198.0),
        fingerprint="github:Codertocat/Hello-World:CodeQL:289782451:failure",
        annotations={},
    ),
    "github/workflow_job.completed.success.json": Case(
        labels={
            "source": "github",
            "kind": "job",
            "status": "success",
            "project": "Codertocat/Hello-World",
            "pipeline": "CodeQL",
            "branch": "main",
            "actor": "Codertocat",
            "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "github_event": "workflow_job",
            "repository_owner": "Octocoders",
            "workflow": "CodeQL",
            "job": "linters",
            "workflow_run_id": "2202229078",
            "run_attempt": "1",
            "runner": "GitHub Actions 5",
        },
        title="Codertocat/Hello-World · CodeQL · linters succeeded on main",
        url="https://github.com/octo-org/octo-repo/runs/1291536064",
        run=("289782451", 289782451),
        times=("2021-08-05T10:34:58+00:00", "2021-08-05T10:38:16+00:00", 198.0),
        fingerprint="github:Codertocat/Hello-World:CodeQL:289782451:success",
        annotations={},
    ),
    "github/workflow_job.in_progress.json": Case(
        labels={
            "source": "github",
            "kind": "job",
            "status": "running",
            "project": "Codertocat/Hello-World",
            "pipeline": "CodeQL",
            "branch": "main",
            "actor": "Codertocat",
            "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "github_event": "workflow_job",
            "repository_owner": "Octocoders",
            "workflow": "CodeQL",
            "job": "Analyze (javascript)",
            "workflow_run_id": "2202229078",
            "run_attempt": "1",
            "runner": "GitHub Actions 5",
        },
        title="Codertocat/Hello-World · CodeQL · Analyze (javascript) running on main",
        url="https://github.com/octo-org/octo-repo/runs/1291536064",
        run=("289782451", 289782451),
        times=("2021-09-13T02:21:13+00:00", None, None),
        fingerprint="github:Codertocat/Hello-World:CodeQL:289782451:running",
        annotations={},
    ),
    "github/workflow_job.queued.json": Case(
        labels={
            "source": "github",
            "kind": "job",
            "status": "queued",
            "project": "Codertocat/Hello-World",
            "pipeline": "CodeQL",
            "branch": "main",
            "actor": "Codertocat",
            "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "github_event": "workflow_job",
            "repository_owner": "Octocoders",
            "workflow": "CodeQL",
            "job": "update",
            "workflow_run_id": "2202229078",
            "run_attempt": "1",
            "runner": "GitHub Actions 5",
        },
        title="Codertocat/Hello-World · CodeQL · update queued on main",
        url="https://github.com/octo-org/octo-repo/runs/1291536064",
        run=("289782451", 289782451),
        times=("2021-09-13T02:21:13+00:00", None, None),
        fingerprint="github:Codertocat/Hello-World:CodeQL:289782451:queued",
        annotations={},
    ),
    "github/workflow_run.completed.failure.json": Case(
        labels={
            "source": "github",
            "kind": "pipeline",
            "status": "failure",
            "project": "ideacrew/active-branch-tracker",
            "pipeline": "test cloud functions",
            "branch": "trunk",
            "actor": "markgoho",
            "commit": "b440c373712f27d84aa428703e55cdc95ef41ea3",
            "author_email": "markgoho@gmail.com",
            "github_event": "workflow_run",
            "repository_owner": "ideacrew",
            "workflow": "test cloud functions",
            "event": "push",
            "run_number": "123",
            "run_attempt": "1",
        },
        title="ideacrew/active-branch-tracker · test cloud functions #123 failed on trunk",
        url="https://github.com/ideacrew/active-branch-tracker/actions/runs/1321542128",
        run=("1321542128:1", 123),
        times=("2021-10-08T18:58:09+00:00", "2021-10-08T18:58:53+00:00", 44.0),
        fingerprint="github:ideacrew/active-branch-tracker:test cloud functions:1321542128:1"
        ":failure",
        annotations={},
    ),
    "github/workflow_run.completed.success.json": Case(
        labels={
            "source": "github",
            "kind": "pipeline",
            "status": "success",
            "project": "octo-org/octo-repo",
            "pipeline": "test",
            "branch": "master",
            "actor": "Codertocat",
            "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "author_email": "matfax@users.noreply.github.com",
            "github_event": "workflow_run",
            "repository_owner": "octo-org",
            "workflow": "test",
            "event": "repository_dispatch",
            "run_number": "163",
            "run_attempt": "1",
        },
        title="octo-org/octo-repo · test #163 succeeded on master",
        url="https://github.com/octo-org/octo-repo/actions/runs/289782451",
        run=("289782451:1", 163),
        times=("2020-10-05T16:33:49+00:00", "2020-10-05T16:33:49+00:00", 0.0),
        fingerprint="github:octo-org/octo-repo:test:289782451:1:success",
        annotations={"display_title": "ci(action): update actions/setup-node digest to 8c91899"},
    ),
    "github/workflow_run.in_progress.json": Case(
        labels={
            "source": "github",
            "kind": "pipeline",
            "status": "running",
            "project": "derekg1729/test-repo",
            "pipeline": "CodeQL",
            "branch": "refs/pull/166/head",
            "actor": "derekg1729",
            "commit": "a69811586879ea72cb7657e555fcdb45cf96c6d6",
            "author_email": "e2e@cogni.test",
            "github_event": "workflow_run",
            "repository_owner": "derekg1729",
            "workflow": "CodeQL",
            "event": "dynamic",
            "run_number": "189",
            "run_attempt": "1",
        },
        title="derekg1729/test-repo · CodeQL #189 running on refs/pull/166/head",
        url="https://github.com/derekg1729/test-repo/actions/runs/18436407157",
        run=("18436407157:1", 189),
        times=("2025-10-12T00:04:52+00:00", None, None),
        fingerprint="github:derekg1729/test-repo:CodeQL:18436407157:1:running",
        annotations={"display_title": "PR #166"},
    ),
    "github/workflow_run.requested.json": Case(
        labels={
            "source": "github",
            "kind": "pipeline",
            "status": "queued",
            "project": "octo-org/octo-repo",
            "pipeline": "test",
            "branch": "master",
            "actor": "Codertocat",
            "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "author_email": "matfax@users.noreply.github.com",
            "github_event": "workflow_run",
            "repository_owner": "octo-org",
            "workflow": "test",
            "event": "repository_dispatch",
            "run_number": "163",
            "run_attempt": "1",
        },
        title="octo-org/octo-repo · test #163 queued on master",
        url="https://github.com/octo-org/octo-repo/actions/runs/289782451",
        run=("289782451:1", 163),
        times=("2020-10-05T16:33:49+00:00", None, None),
        fingerprint="github:octo-org/octo-repo:test:289782451:1:queued",
        annotations={"display_title": "ci(action): update actions/setup-node digest to 8c91899"},
    ),
}
IGNORED: dict[str, str] = {
    "github/ping.json": "ping",
    "github/ping.with_app_id.json": "ping",
    "github/push.branch_with_commit.json": "GitHub event 'push' is not handled",
    "github/push.tag_deleted.json": "GitHub event 'push' is not handled",
}


def _auth(secret: str | None) -> SourceAuth:
    return SourceAuth(secret=SecretStr(secret) if secret is not None else None)


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _parse_one(name: str, doc: Any = None) -> Any:
    delivery = load(name)
    events = SOURCE.parse(delivery.headers, delivery.payload if doc is None else doc)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expectation() -> None:
    """Every GitHub fixture file (and every index.json entry) is covered by a case here."""
    covered = set(CASES) | set(IGNORED)
    assert covered == fixture_files("github")
    assert {name for name in index() if name.startswith("github/")} <= covered


def test_published_test_vector_verifies() -> None:
    """GitHub's documented secret/body/signature triple is accepted, and a changed body is not."""
    secret = "It's a Secret to Everybody"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    SOURCE.verify({"x-hub-signature-256": signature}, b"Hello, World!", _auth(secret))
    with pytest.raises(Unauthorized):
        SOURCE.verify({"x-hub-signature-256": signature}, b"Hello, World?", _auth(secret))


@pytest.mark.parametrize("name", CAPTURES)
def test_real_captures_verify_and_one_changed_byte_fails(name: str) -> None:
    """A real delivery's recorded signature verifies over its exact bytes, and not over others."""
    delivery = load(name)
    SOURCE.verify(delivery.headers, delivery.body, _auth(CAPTURE_SECRET))
    tampered = bytes([delivery.body[0] ^ 1]) + delivery.body[1:]
    with pytest.raises(Unauthorized):
        SOURCE.verify(delivery.headers, tampered, _auth(CAPTURE_SECRET))
    with pytest.raises(Unauthorized):
        SOURCE.verify(delivery.headers, delivery.body, _auth("another secret"))


def test_missing_or_malformed_signature_is_refused() -> None:
    """With a secret configured, no header, a sha1 header or a bare hex digest is refused."""
    body = b"{}"
    digest = _sign("s", body)
    for headers in ({}, {"x-hub-signature": "sha1=00"}, {"x-hub-signature-256": digest[7:]}):
        with pytest.raises(Unauthorized):
            SOURCE.verify(headers, body, _auth("s"))
    SOURCE.verify({"x-hub-signature-256": digest}, body, _auth("s"))


def test_no_secret_configured_accepts_unsigned_posts() -> None:
    """Without a configured secret every post is accepted, signed or not."""
    SOURCE.verify({}, b"anything", _auth(None))
    SOURCE.verify({"x-hub-signature-256": "sha256=bad"}, b"anything", _auth(""))


def test_delivery_id_is_the_github_delivery_header() -> None:
    """The delivery id is X-GitHub-Delivery as recorded; absent header gives None."""
    delivery = load("github/captures/workflow_run.in_progress.capture.json")
    assert SOURCE.delivery_id(delivery.headers) == "16056910-a6ff-11f0-880c-569b494ebd7a"
    assert SOURCE.delivery_id({}) is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_parses_to_the_expected_event(name: str) -> None:
    """Each supported fixture gives exactly the expected labels, title, url, times and ids."""
    assert_event(_parse_one(name), CASES[name])


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_ping_and_unsupported_events_are_ignored_with_a_reason(name: str) -> None:
    """ping and push deliveries are answered Ignored, naming the event."""
    delivery = load(name)
    with pytest.raises(Ignored, match=IGNORED[name]):
        SOURCE.parse(delivery.headers, delivery.payload)


def test_capture_body_and_plain_fixture_parse_alike() -> None:
    """The in_progress capture's body and its decoded copy describe the same run."""
    from_capture = _parse_one("github/captures/workflow_run.in_progress.capture.json")
    from_copy = _parse_one("github/workflow_run.in_progress.json")
    assert from_capture.labels == from_copy.labels
    assert from_capture.fingerprint == from_copy.fingerprint


def test_fingerprint_is_stable_and_tracks_run_and_status() -> None:
    """Parsing twice gives one fingerprint; another status or run attempt gives another."""
    name = "github/workflow_run.completed.failure.json"
    assert _parse_one(name).fingerprint == _parse_one(name).fingerprint
    fingerprints = {_parse_one(name).fingerprint}
    rerun = payload(name)
    rerun["workflow_run"]["run_attempt"] = 2
    fingerprints.add(_parse_one(name, rerun).fingerprint)
    fixed = payload(name)
    fixed["workflow_run"]["conclusion"] = "success"
    fingerprints.add(_parse_one(name, fixed).fingerprint)
    assert len(fingerprints) == 3
    assert _parse_one(name, rerun).run_id == "1321542128:2"


@pytest.mark.parametrize(("conclusion", "status"), sorted(CONCLUSIONS.items()))
def test_every_conclusion_maps_as_documented(conclusion: str, status: str) -> None:
    """A completed workflow_run with each known conclusion gets the documented status."""
    doc = payload("github/workflow_run.completed.failure.json")
    doc["workflow_run"]["conclusion"] = conclusion
    assert _parse_one("github/workflow_run.completed.failure.json", doc).status == status


@pytest.mark.parametrize(("progress", "status"), sorted(PROGRESS.items()))
def test_every_progress_status_maps_as_documented(progress: str, status: str) -> None:
    """An unfinished workflow_job in each known status gets the documented status, no end time."""
    doc = payload("github/workflow_job.in_progress.json")
    doc["workflow_job"]["status"] = progress
    event = _parse_one("github/workflow_job.in_progress.json", doc)
    assert event.status == status


@pytest.mark.parametrize(("state", "status"), sorted(DEPLOYMENT_STATES.items()))
def test_every_deployment_state_maps_as_documented(state: str, status: str) -> None:
    """A deployment_status in each known state gets the documented status."""
    doc = payload("github/deployment_status.success.json")
    doc["deployment_status"]["state"] = state
    event = _parse_one("github/deployment_status.success.json", doc)
    assert event.status == status
    assert (event.finished_at is None) == (status in ("queued", "running"))


def test_unknown_conclusion_and_missing_header_are_malformed() -> None:
    """An unknown conclusion is Malformed naming the field; no X-GitHub-Event is Malformed."""
    doc = payload("github/check_run.completed.failure.json")
    doc["check_run"]["conclusion"] = "exploded"
    with pytest.raises(Malformed, match=r"check_run\.conclusion 'exploded'"):
        _parse_one("github/check_run.completed.failure.json", doc)
    with pytest.raises(Malformed, match="X-GitHub-Event"):
        SOURCE.parse({}, doc)


def test_missing_required_field_is_malformed_naming_it() -> None:
    """A workflow_run without repository.full_name is Malformed and the reason names the field."""
    doc = payload("github/workflow_run.completed.success.json")
    del doc["repository"]["full_name"]
    with pytest.raises(Malformed, match=r"repository\.full_name"):
        _parse_one("github/workflow_run.completed.success.json", doc)


@settings(max_examples=200, deadline=None)
@given(event=st.sampled_from(sorted(HANDLERS)), doc=JSON_VALUES)
def test_random_json_gives_events_or_a_refusal(event: str, doc: Any) -> None:
    """Any JSON value under any handled event type yields events, Ignored or Malformed only."""
    parses_or_refuses(lambda: SOURCE.parse({"x-github-event": event}, doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(CASES)))
def test_mutated_fixtures_give_events_or_a_refusal(data: st.DataObject, name: str) -> None:
    """Fixtures with keys dropped or values replaced yield events, Ignored or Malformed only."""
    delivery = load(name)
    doc = data.draw(mutated(delivery.payload))
    parses_or_refuses(lambda: SOURCE.parse(delivery.headers, doc))


def test_registry_holds_every_source_module_once() -> None:
    """SOURCE_MODULES names every source module in app/sources/ under its own name (generic
    sources are configured per name instead), routes.yaml's `sources:` has an entry for
    each, and the docs cover every one."""
    helpers = {"__init__", "base", "alerting", "generic_config", "jmes"}
    modules = {path.stem for path in (REPO / "app" / "sources").glob("*.py")} - helpers
    assert {*SOURCE_MODULES, "generic"} == modules == set(SOURCES)
    assert all(module.name == name for name, module in SOURCE_MODULES.items())
    assert set(SourcesSpec.model_fields) == modules
    docs = (REPO / "docs" / "sources.md").read_text("utf-8")
    assert all(f"## {name}" in docs.lower() for name in modules)
