"""The running service polls what routes.yaml names and says so in /api/config and /metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ci_apis import FakeGitHub, FakeJenkins, github_run, iso
from service import serve, wait_until

REPO = "octo-org/octo-repo"


def routes(github: FakeGitHub, jenkins: FakeJenkins) -> str:
    return f"""sources:
  github:
    poll: {{ url: "{github.base_url}", token: "${{GITHUB_TOKEN}}", repos: [{REPO}], look_back: 1h }}
  jenkins:
    poll:
      url: "{jenkins.base_url}"
      user: {jenkins.user}
      token: "${{JENKINS_API_TOKEN}}"
      jobs: [gone]
channels:
  stdout: {{ type: log }}
routes:
  - to: [stdout]
"""


def polls(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/config")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()["polls"]
    return found


def test_config_shows_what_is_polled_and_how_it_went_never_a_credential(
    tmp_path: Path,
    fake_github: FakeGitHub,
    fake_jenkins: FakeJenkins,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET /api/config and the console list each polled target with its last success or
    error and the API's state; the tokens appear nowhere; the metrics count the polls; a
    polled run is in the pipelines board like a webhook's."""
    monkeypatch.setenv("GITHUB_TOKEN", fake_github.token)
    monkeypatch.setenv("JENKINS_API_TOKEN", fake_jenkins.token)
    fake_github.repo(REPO)
    fake_github.put(REPO, github_run(REPO, 5, 1, "in_progress", None, updated_at=iso(time.time())))
    with serve(tmp_path, routes(fake_github, fake_jenkins)) as client:

        def polled() -> bool:
            found = polls(client)
            return all(t["last_attempt"] for s in found.values() for t in s["targets"])

        wait_until(polled, within=15)
        found = polls(client)
        text = client.get("/api/config").text
        metrics = client.get("/metrics").text
        board = client.get("/ui/pipelines")
        console = client.get("/ui/config").text
    [github] = found["github"]["targets"]
    assert github["target"] == f"github:repo:{REPO}" and github["last_success"]
    assert found["github"]["api"]["state"] == "up"
    assert found["github"]["authenticated"] is True
    [jenkins] = found["jenkins"]["targets"]
    assert jenkins["last_success"] is None and "HTTP 404" in jenkins["last_error"]
    assert jenkins["backing_off_until"]
    assert fake_github.token not in text and fake_jenkins.token not in text
    assert (
        f'signalbox_polls_total{{outcome="news",source="github",target="github:repo:{REPO}"}}'
        in metrics
    )
    assert (
        'signalbox_polls_total{outcome="failed",source="jenkins",target="jenkins:job:gone"}'
        in metrics
    )
    assert 'signalbox_poll_source_up{source="github"} 1.0' in metrics
    # The console's config page says the same, and no more.
    assert "Polled CI APIs" in console and f"<code>{REPO}</code>" in console
    assert "HTTP 404 (no such target, or the token cannot see it)" in console
    assert fake_github.token not in console and fake_jenkins.token not in console
    # The run polled (in its look-back) is on the board, as a webhook's would be.
    assert board.status_code == 200 and REPO in board.text and "CI" in board.text
