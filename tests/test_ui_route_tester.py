"""The route tester with hostile input: the console's form on the real service, and the CLI
(`signalbox route-test`), which run the same function. Bad input is a 400 (exit 1) that
says what is wrong, never a 500 or a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from fixtures import load
from service import LOG_ONLY, serve

RUN_FAILED = "github/workflow_run.completed.failure.json"
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000


def _lone_surrogate() -> str:
    text = load(RUN_FAILED).body.decode()
    return text.replace('"name": "', '"name": "\\ud800', 1)


GITHUB_RUN = "X-GitHub-Event: workflow_run"
HOSTILE = [
    pytest.param("github", DEEP_ARRAY, GITHUB_RUN, "recursion limit exceeded", id="deep-array"),
    pytest.param("alertmanager", DEEP_OBJECT, "", "recursion limit exceeded", id="deep-object"),
    pytest.param("jenkins", DEEP_OBJECT, "", "nested too deeply", id="deep-jenkins"),
    pytest.param("github", _lone_surrogate(), GITHUB_RUN, "hex escape", id="lone-surrogate"),
    pytest.param("gitlab", '{"a": ', "X-Gitlab-Event: Pipeline Hook", "not JSON", id="truncated"),
    pytest.param("github", "{]", "X-GitHub-Event: ping", "not JSON", id="ignored-not-json"),
    pytest.param(
        "github", load(RUN_FAILED).body.decode(), "X-GitHub-Event: 工作流", "Latin-1", id="header"
    ),
    pytest.param("github", "[]", GITHUB_RUN, "expected a JSON", id="array"),
    pytest.param("nosuch", "{}", "", "unknown source", id="source"),
]


@pytest.mark.parametrize(("source", "payload", "headers", "said"), HOSTILE)
def test_the_console_tester_answers_bad_input_with_400(
    tmp_path: Path, source: str, payload: str, headers: str, said: str
) -> None:
    """Deep nesting, lone surrogates, broken JSON (of an ignored event type too), a
    non-Latin-1 header, a non-object, an unknown source: 400 with the reason, for htmx and
    for a plain form post alike."""
    form = {"source": source, "payload": payload, "headers": headers}
    with serve(tmp_path) as client:
        for hx in ({"hx-request": "true"}, {}):
            answer = client.post("/ui/config/route-test", data=form, headers=hx)
            assert answer.status_code == 400, answer.text[-300:]
            assert said in answer.text
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(("source", "payload", "headers", "said"), HOSTILE)
def test_the_cli_tester_exits_one_saying_why(
    tmp_path: Path, source: str, payload: str, headers: str, said: str
) -> None:
    """The same inputs to `signalbox route-test` exit 1 with the reason, no traceback."""
    config = tmp_path / "routes.yaml"
    config.write_text(LOG_ONLY, encoding="utf-8")
    event = tmp_path / "payload.json"
    event.write_text(payload, encoding="utf-8", errors="surrogatepass")
    args = ["route-test", "--source", source, "--event", str(event), "--config", str(config)]
    if headers:
        args += ["--header", headers.replace(": ", "=", 1)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert said in result.output


def test_a_good_payload_still_routes(tmp_path: Path) -> None:
    """The fixture the tester is meant for is answered 200 with its routes."""
    form = {
        "source": "github",
        "payload": json.dumps(load(RUN_FAILED).payload),
        "headers": "X-GitHub-Event: workflow_run",
    }
    with serve(tmp_path) as client:
        answer = client.post("/ui/config/route-test", data=form, headers={"hx-request": "true"})
        assert answer.status_code == 200
        assert "matched" in answer.text
