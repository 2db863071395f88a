"""POST /hooks/generic/<name> over real HTTP on the real service: the docs' Argo CD and curl
examples end to end (the curl command run as written), and every way a post is refused
(401, 400, 404, 413), never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from fixtures import load
from generic_docs import doc_example
from service import serve

ARGOCD_TOKEN = "argo-token"
CRON_TOKEN = "cron-token"
HMAC_SECRET = "hook-secret"
RUNNING = "generic/argocd/notifications.sync_running.json"
DEGRADED = "generic/argocd/notifications.synced_degraded.json"


def routes() -> str:
    """The docs' two examples, a signed sender and an open one, under one `sources:`."""
    argocd = doc_example("argocd").removeprefix("sources:\n  generic:\n")
    cron = doc_example("cron").removeprefix("sources:\n  generic:\n")
    return f"""\
sources:
  generic:
{argocd}{cron}    signed:
      hmac: {{ secret: "{HMAC_SECRET}", header: X-Hub-Signature-256, prefix: "sha256=" }}
      kind: "'alert'"
      status: {{ value: "state" }}
      labels: {{ project: "service" }}
    open:
      kind: "'job'"
      status: {{ value: "state" }}
    costly:
      token: "{CRON_TOKEN}"
      kind: "'job'"
      status: {{ value: "state" }}
      annotations: {{ blowup: "{"[@,@][]" * 18}" }}
channels:
  stdout: {{ type: log }}
routes:
  - matchers: ['generic="argocd"', 'status="failure"']
    to: [stdout]
fallback: [stdout]
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ARGOCD_WEBHOOK_TOKEN", ARGOCD_TOKEN)
        env.setenv("CRON_WEBHOOK_TOKEN", CRON_TOKEN)
        path = tmp_path_factory.mktemp("generic")
        with serve(path, routes(), max_body_bytes=64 * 1024) as c:
            yield c


def post(client: httpx.Client, name: str, body: bytes, **headers: str) -> httpx.Response:
    return client.post(
        f"/hooks/generic/{name}",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def stored(client: httpx.Client, ids: list[int]) -> list[dict[str, Any]]:
    events = client.get("/api/events", params={"limit": 1000}).json()["events"]
    by_id = {e["id"]: e for e in events}
    return [by_id[i] for i in ids]


def test_real_argocd_deliveries_are_accepted_with_the_docs_mapping(client: httpx.Client) -> None:
    """Argo CD's real deliveries, posted as Argo CD posts them (Bearer token), are stored
    as deployment events labelled generic="argocd"; a degraded sync is a failure."""
    bearer = f"Bearer {ARGOCD_TOKEN}"
    running = post(client, "argocd", load(RUNNING).body, authorization=bearer)
    degraded = post(client, "argocd", load(DEGRADED).body, authorization=bearer)
    assert running.status_code == degraded.status_code == 202, degraded.text
    ids = [running.json()["event_ids"][0], degraded.json()["event_ids"][0]]
    first, second = (e["labels"] for e in stored(client, ids))
    assert first["source"] == second["source"] == "generic"
    assert first["generic"] == "argocd" and first["kind"] == "deployment"
    assert (first["status"], second["status"]) == ("running", "failure")


def test_the_docs_curl_command_reports_a_cron_job(client: httpx.Client) -> None:
    """The shell command docs/sources.md shows, run by a real shell and curl, reports a
    failed run as broken and the next good one as fixed."""
    command = doc_example("cron-curl")
    shell = shutil.which("sh")
    assert shell is not None and shutil.which("curl") is not None
    ids = []
    for started, rc in ((1_764_000_000, 3), (1_764_086_400, 0)):
        env = {
            "PATH": os.environ["PATH"],
            "SIGNALBOX_URL": str(client.base_url).rstrip("/"),
            "CRON_WEBHOOK_TOKEN": CRON_TOKEN,
            "started": str(started),
            "rc": str(rc),
        }
        done = subprocess.run(
            [shell, "-c", command], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        ids.append(json.loads(done.stdout)["event_ids"][0])
    failed, fixed = (e["labels"] for e in stored(client, ids))
    assert failed["generic"] == "cron" and failed["pipeline"] == "nightly-backup"
    assert (failed["status"], failed["transition"]) == ("failure", "broken")
    assert (fixed["status"], fixed["transition"]) == ("success", "fixed")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Basic " + base64.b64encode(b"argocd:wrong").decode(), "Basic !!"],
)
def test_a_wrong_or_missing_token_gets_401(client: httpx.Client, authorization: str | None) -> None:
    """Without the name's token (as Bearer or Basic password) the post is refused 401."""
    headers = {} if authorization is None else {"authorization": authorization}
    answer = post(client, "argocd", load(RUNNING).body, **headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"


def test_basic_auth_with_the_token_as_password_is_accepted(client: httpx.Client) -> None:
    """Argo CD's `basicAuth` sends the token as the password: accepted."""
    basic = "Basic " + base64.b64encode(f"argocd:{ARGOCD_TOKEN}".encode()).decode()
    assert post(client, "argocd", load(RUNNING).body, authorization=basic).status_code == 202


def test_hmac_signature_is_checked_over_the_raw_body(client: httpx.Client) -> None:
    """A signed name takes a post whose header is the HMAC of the exact bytes sent, and
    refuses a missing or wrong one with 401."""
    body = b'{"state": "firing", "service": "billing"}'
    digest = hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
    good = post(client, "signed", body, **{"x-hub-signature-256": f"sha256={digest}"})
    assert good.status_code == 202, good.text
    assert post(client, "signed", body).status_code == 401
    tampered = body.replace(b"billing", b"payroll")
    wrong = post(client, "signed", tampered, **{"x-hub-signature-256": f"sha256={digest}"})
    assert wrong.status_code == 401
    assert "signature" in wrong.json()["detail"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"state": ', "line 1"),
        (b"[1, 2]", "state is missing"),
        (b'{"state": "exploded"}', "status: unknown value 'exploded'"),
        (b'{"state": {"a": 1}}', "gave an object"),
    ],
    ids=["broken-json", "not-an-object", "unknown-status", "object-status"],
)
def test_a_body_the_mapping_cannot_read_gets_400_naming_why(
    client: httpx.Client, body: bytes, said: str
) -> None:
    """Broken JSON, a body without the mapped fields, a status word the map does not know,
    and a mapping that would multiply its work: 400 with the reason, never a 500."""
    answer = post(client, "open", body)
    assert answer.status_code == 400, answer.text
    assert said in answer.json()["detail"]


def test_a_mapping_that_multiplies_its_work_gets_400(client: httpx.Client) -> None:
    """A mapping whose work grows exponentially is stopped by the work budget: 400 naming
    the field, and the service answers the next post at once."""
    body = b'{"state": "success"}'
    answer = post(client, "costly", body, authorization=f"Bearer {CRON_TOKEN}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith("annotations.blowup: ")
    assert "steps of work" in answer.json()["detail"]
    assert client.get("/healthz").status_code == 200


def test_an_oversized_body_gets_413(client: httpx.Client) -> None:
    """A body over the size limit is refused before any mapping runs."""
    big = b'{"state": "success", "pad": "' + b"x" * (70 * 1024) + b'"}'
    assert post(client, "open", big).status_code == 413


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/hooks/generic/nosuch", "no generic source named 'nosuch'"),
        ("/hooks/generic", "/hooks/generic/<name>"),
        ("/hooks/generic/", None),
        ("/hooks/generic/open/extra", None),
        ("/hooks/generic/%2e%2e", None),
    ],
)
def test_a_name_that_is_not_configured_gets_404(
    client: httpx.Client, path: str, said: str | None
) -> None:
    """A name routes.yaml does not configure, the bare prefix and deeper paths: 404."""
    answer = client.post(path, content=b"{}", headers={"content-type": "application/json"})
    assert answer.status_code == 404, answer.text
    if said is not None:
        assert said in answer.json()["detail"]


def test_a_repeated_idempotency_key_is_a_duplicate(client: httpx.Client) -> None:
    """A sender retrying with the same Idempotency-Key gets 200 ignored the second time."""
    body = b'{"state": "failure"}'
    assert post(client, "open", body, **{"idempotency-key": "k-1"}).status_code == 202
    again = post(client, "open", body, **{"idempotency-key": "k-1"})
    assert again.status_code == 200
    assert "duplicate" in again.json()["ignored"]


def test_open_names_are_listed_as_unauthenticated(client: httpx.Client) -> None:
    """/api/config lists a generic name with neither token nor hmac as generic/<name>."""
    open_sources = client.get("/api/config").json()["unauthenticated_sources"]
    assert "generic/open" in open_sources
    assert not {"generic/argocd", "generic/cron", "generic/signed", "generic/costly"} & set(
        open_sources
    )


def test_the_console_names_the_generic_sender(client: httpx.Client) -> None:
    """The console's feed and pipelines board badge a generic event with its sender's
    name, generic/<name>, not just "generic"."""
    post(
        client,
        "cron",
        b'{"job": "sync", "host": "h", "exit_code": 1, "started": 5}',
        authorization=f"Bearer {CRON_TOKEN}",
    )
    badge = re.compile(r'<span class="src src-generic">generic/(\w+)</span>')
    assert {"argocd", "cron"} <= set(badge.findall(client.get("/ui").text))
    assert "cron" in badge.findall(client.get("/ui/pipelines").text)


def test_the_console_tester_routes_a_generic_payload(client: httpx.Client) -> None:
    """The console's route tester offers generic/<name> and routes an Argo CD delivery
    with that name's mapping; an unknown name is a 400 saying so."""
    page = client.get("/ui/config").text
    assert "<option>generic/argocd</option>" in page
    form = {"source": "generic/argocd", "payload": load(DEGRADED).body.decode(), "headers": ""}
    hx = {"hx-request": "true"}
    answer = client.post("/ui/config/route-test", data=form, headers=hx)
    assert answer.status_code == 200, answer.text[-300:]
    assert "matched" in answer.text and "stdout" in answer.text
    unknown = client.post("/ui/config/route-test", data={**form, "source": "generic/x"}, headers=hx)
    assert unknown.status_code == 400
    assert "unknown source" in unknown.text


def test_the_cli_tester_routes_a_generic_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`signalbox route-test --source generic/argocd` maps the payload with that name's
    mapping and explains its route; an unconfigured name exits non-zero naming the known."""
    monkeypatch.setenv("ARGOCD_WEBHOOK_TOKEN", ARGOCD_TOKEN)
    monkeypatch.setenv("CRON_WEBHOOK_TOKEN", CRON_TOKEN)
    config = tmp_path / "routes.yaml"
    config.write_text(routes(), encoding="utf-8")
    event = tmp_path / "argocd.json"
    event.write_bytes(load(DEGRADED).body)
    args = ["route-test", "--event", str(event), "--config", str(config), "--json"]
    result = CliRunner().invoke(cli, [*args, "--source", "generic/argocd"])
    assert result.exit_code == 0, result.output
    explained = json.loads(result.output)
    assert "stdout" in json.dumps(explained)
    unknown = CliRunner().invoke(cli, [*args, "--source", "generic/nosuch"])
    assert unknown.exit_code != 0
    assert "generic/argocd" in unknown.output


def test_a_reload_adds_and_changes_generic_names(tmp_path: Path) -> None:
    """A name added by a reload takes posts at once (404 before); a reload with an invalid
    mapping is refused naming file:line and the field, and the name keeps its mapping."""
    first = """\
sources:
  generic:
    a: { kind: "'job'", status: { value: "state" } }
channels:
  stdout: { type: log }
fallback: [stdout]
"""
    added = first.replace(
        "channels:", '    b: { kind: "\'alert\'", status: { value: "s" } }\nchannels:'
    )
    broken = added.replace('value: "s"', 'value: "s["')
    body = b'{"state": "success", "s": "firing"}'
    with serve(tmp_path, first) as client:
        assert post(client, "b", body).status_code == 404
        (tmp_path / "routes.yaml").write_text(added, encoding="utf-8")
        assert client.post("/-/reload").status_code == 200
        accepted = post(client, "b", body)
        assert accepted.status_code == 202, accepted.text
        (tmp_path / "routes.yaml").write_text(broken, encoding="utf-8")
        refused = client.post("/-/reload")
        assert refused.status_code == 400
        assert "routes.yaml:4:" in refused.json()["detail"]
        assert "status.value: invalid JMESPath expression" in refused.json()["detail"]
        assert post(client, "b", body).status_code == 202
