"""The HTTP surface against hostile clients: the real service under uvicorn on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fixtures import load
from service import serve

# Sources left without a token, as the example routes.yaml leaves Jenkins and Alertmanager.
OPEN_SOURCES = """\
channels:
  stdout: { type: log }
fallback: [stdout]
"""


def _form(name: str) -> bytes:
    return httpx.Request("POST", "/", data={"payload": load(name).body.decode()}).content


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("jenkins", "jenkins/notification_plugin.completed.success.json"),
        ("alertmanager", "alertmanager/firing.multi.v4_fingerprint.json"),
        ("gitlab", "gitlab/pipeline_hook.failed.json"),
    ],
)
def test_only_github_may_post_form_encoded(tmp_path: Path, source: str, name: str) -> None:
    """A form-encoded payload (what an HTML form can send) to any source but GitHub is a 415."""
    headers = {**load(name).headers, "content-type": "application/x-www-form-urlencoded"}
    with serve(tmp_path, OPEN_SOURCES) as client:
        answer = client.post(f"/hooks/{source}", content=_form(name), headers=headers)
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"] == "unsupported media type"
        assert client.get("/api/events").json()["events"] == []
        name_github = "github/workflow_run.completed.success.json"
        github = {**load(name_github).headers, "content-type": headers["content-type"]}
        assert (
            client.post("/hooks/github", content=_form(name_github), headers=github).status_code
            == 202
        )
