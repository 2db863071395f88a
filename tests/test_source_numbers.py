"""Numbers a source cannot keep: every source answers 400 naming the field, never a 500, and
no event carries a number that SQLite or the webhook channel's JSON cannot hold."""

from __future__ import annotations

import hashlib
import hmac
import time
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.sources import alerting, alertmanager, github, gitlab, grafana, jenkins
from fixtures import (
    BEYOND_KEEPING,
    RawNumber,
    at,
    dumps,
    fixture_files,
    load,
    number_paths,
    replaced,
)
from providers.webhook import FakeReceiver
from service import AUTH, LOG_ONLY, serve

SOURCES = (github, gitlab, jenkins, alerting, alertmanager, grafana)
FIXTURES = sorted(
    n for s in ("github", "gitlab", "jenkins", "alertmanager", "grafana") for n in fixture_files(s)
)

# Every number a source reads, with a fixture that reaches the code reading it, and where it
# sits in the body (some fixtures lack the field: it is added).
READ = [
    ("jenkins/notification_plugin.completed.success.json", ("build", "number")),
    ("jenkins/notification_plugin.completed.success.json", ("build", "timestamp")),
    ("jenkins/notification_plugin.completed.success.json", ("build", "duration")),
    ("jenkins/outbound_webhook_plugin.success.json", ("buildNumber",)),
    ("github/workflow_run.completed.failure.json", ("workflow_run", "id")),
    ("github/workflow_run.completed.failure.json", ("workflow_run", "run_number")),
    ("github/workflow_run.completed.success.json", ("workflow_run", "run_attempt")),
    ("github/workflow_job.completed.failure.json", ("workflow_job", "id")),
    ("github/workflow_job.completed.failure.json", ("workflow_job", "run_id")),
    ("github/check_suite.completed.success.json", ("check_suite", "id")),
    ("github/check_run.completed.failure.json", ("check_run", "id")),
    ("github/check_run.completed.failure.json", ("check_run", "check_suite", "id")),
    ("github/deployment_status.success.json", ("deployment", "id")),
    ("gitlab/pipeline_hook.failed.json", ("object_attributes", "id")),
    ("gitlab/pipeline_hook.success.json", ("object_attributes", "iid")),
    ("gitlab/pipeline_hook.failed.json", ("object_attributes", "duration")),
    ("gitlab/job_hook.build_failed.json", ("build_id",)),
    ("gitlab/job_hook.build_failed.json", ("pipeline_id",)),
    ("gitlab/job_hook.build_failed.json", ("build_duration",)),
    ("gitlab/deployment_hook.success.json", ("deployment_id",)),
    ("alertmanager/firing.multi.v4_fingerprint.json", ("truncatedAlerts",)),
    ("grafana/firing.single.v11_values.json", ("truncatedAlerts",)),
    ("grafana/firing.single.v11_values.json", ("orgId",)),
    ("grafana/resolved.single.v9.json", ("alerts", 0, "orgId")),
]


def _numbers(annotation: Any) -> set[type]:
    """Which of int and float `annotation` admits."""
    if annotation in (int, float):
        return {annotation}
    if get_origin(annotation) in (Annotated, Union, types.UnionType):
        return set().union(*(_numbers(arg) for arg in get_args(annotation)))
    return set()


def numeric_fields() -> Iterator[tuple[str, Any, set[type]]]:
    """(model.field, its full type, int and/or float) for every number a payload model reads."""
    for module in SOURCES:
        for model in vars(module).values():
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            if model.__module__ != module.__name__:
                continue  # the Event, built from these fields
            for name, field in model.model_fields.items():
                if kinds := _numbers(field.annotation):
                    full = (
                        Annotated[(field.annotation, *field.metadata)]
                        if field.metadata
                        else field.annotation
                    )
                    yield f"{model.__name__}.{name}", full, kinds


def test_every_numeric_field_refuses_what_cannot_be_kept() -> None:
    """Each integer field of every payload model refuses 2^63, 2^64 and -2^63-1, and every
    number field ±infinity and NaN (1e400 parses as infinity)."""
    found = list(numeric_fields())
    assert len(found) >= 18, found
    non_finite = (float("inf"), float("-inf"), float("nan"))
    for where, annotation, kinds in found:
        adapter = TypeAdapter(annotation)
        beyond = (2**63, 2**64, -(2**63) - 1) if int in kinds else ()
        for number in (*beyond, *non_finite):
            with pytest.raises(ValidationError):
                adapter.validate_python(number)
                pytest.fail(f"{where} kept {number}")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with serve(tmp_path_factory.mktemp("numbers")) as c:
        yield c


def post(client: httpx.Client, name: str, body: bytes) -> httpx.Response:
    """Post `body` as fixture `name` is sent, signed or authenticated for LOG_ONLY."""
    source = name.split("/", 1)[0]
    headers = {"content-type": "application/json", **load(name).headers, **AUTH.get(source, {})}
    headers.pop("content-length", None)
    if source == "github":
        mac = hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
        headers["x-hub-signature-256"] = f"sha256={mac}"
        headers.pop("x-github-delivery", None)
    return client.post(f"/hooks/{source}", content=body, headers=headers)


@pytest.mark.parametrize("number", BEYOND_KEEPING)
@pytest.mark.parametrize(("name", "path"), READ, ids=[".".join(map(str, p)) for _, p in READ])
def test_a_read_number_beyond_keeping_gets_400_naming_it(
    client: httpx.Client, name: str, path: tuple[str | int, ...], number: str
) -> None:
    """2^63, 2^64, -2^63-1, 5,000 digits or 1e400 in a field a source reads: 400 naming it."""
    body = dumps(replaced(load(name).payload, path, RawNumber(number)))
    answer = post(client, name, body)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    if path[-1] == "timestamp":
        assert "build.timestamp" in detail and "out of range" in detail, detail
    else:
        assert ".".join(map(str, path)) in detail, detail


@pytest.mark.parametrize("name", FIXTURES)
def test_any_number_of_any_fixture_beyond_keeping_is_never_a_500(
    client: httpx.Client, name: str
) -> None:
    """Each number of each real payload set to 2^64, 5,000 digits or 1e400: 2xx or a 400 that
    names the field, over HTTP."""
    original = load(name).payload
    for path in number_paths(original):
        for number in (str(2**64), "9" * 5000, "1e400"):
            answer = post(client, name, dumps(replaced(original, path, RawNumber(number))))
            assert answer.status_code in (200, 202, 400), (path, number, answer.text)
            if answer.status_code == 400:
                assert ".".join(map(str, path)) in answer.json()["detail"], (path, answer.text)


ROUTES = LOG_ONLY.replace(
    "channels:\n", "channels:\n  hook: { type: webhook, url: 'URL/events' }\n"
).replace("to: [stdout]", "to: [hook]")


def test_the_largest_numbers_kept_are_stored_and_delivered(
    tmp_path: Any, fake_receiver: FakeReceiver
) -> None:
    """A GitLab job id of 2^63-1 and a Jenkins build -2^63 are stored, listed and sent by the
    webhook channel (orjson) with the exact numbers."""
    job = "gitlab/job_hook.build_failed.json"
    build = "jenkins/notification_plugin.completed.success.json"
    notification = replaced(load(build).payload, ("build", "status"), "FAILURE")
    with serve(tmp_path, ROUTES.replace("URL", fake_receiver.base_url)) as client:
        assert (
            post(
                client, job, dumps(replaced(load(job).payload, ("build_id",), 2**63 - 1))
            ).status_code
            == 202
        )
        assert (
            post(
                client, build, dumps(replaced(notification, ("build", "number"), -(2**63)))
            ).status_code
            == 202
        )
        deadline = time.monotonic() + 10
        while len(fake_receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        listed = client.get("/api/events").json()["events"]
    assert {e["run_order"] for e in listed} == {2**63 - 1, -(2**63)}
    sent = b"".join(r.body for r in fake_receiver.requests)
    assert b"9223372036854775807" in sent and b"-9223372036854775808" in sent
    assert all(at(e, ("labels", "status")) == "failure" for e in listed)
