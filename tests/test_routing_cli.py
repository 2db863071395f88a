"""`signalbox check` and `signalbox route-test` against real files and source fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from fixtures import fixtures_dir

FIXTURES = fixtures_dir()
RUN_FAILED = FIXTURES / "github" / "workflow_run.completed.failure.json"

CONFIG = """channels:
  team: { type: log }
  release: { type: log }
  everything: { type: log }
routes:
  - matchers: ['kind="pipeline"', 'status="failure"', 'branch="main"']
    to: [team]
  - matchers: ['kind="pipeline"', 'transition="fixed"']
    to: [release]
fallback: [everything]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(CONFIG)
    return path


runner = CliRunner()


def test_check_valid_exits_zero(config: Path) -> None:
    """A valid file prints OK with its hash and exits 0."""
    result = runner.invoke(cli, ["check", str(config)])
    assert result.exit_code == 0, result.output
    assert "OK (2 routes, 3 channels" in result.output


def test_check_invalid_prints_every_error_and_exits_one(tmp_path: Path) -> None:
    """An invalid file prints each error with its line number and exits 1."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "channels: { log: { type: log } }\nroutes:\n  - to: [nope]\n  - to: [log, gone]\n"
    )
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert f'{path}:3: undefined channel "nope" in route 0' in result.output
    assert f'{path}:4: undefined channel "gone" in route 1' in result.output


def route_test(config: Path, *extra: str) -> str:
    args = ["route-test", "--source", "github", "--event", str(RUN_FAILED)]
    args += ["--header", "X-GitHub-Event=workflow_run", "--config", str(config), *extra]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_route_test_explains_misses_with_actual_values(config: Path) -> None:
    """Unmatched routes show the first failing matcher and the label's actual value."""
    output = route_test(config)
    assert "no route matched: fallback → everything" in output
    assert "route 0        no match: branch=\"main\" failed (branch is 'trunk')" in output
    assert 'transition="fixed" failed (transition is not set)' in output


def test_route_test_label_overrides_and_json(config: Path) -> None:
    """--label overrides labels (history the CLI cannot know) and --json is machine-readable."""
    output = route_test(config, "--label", "branch=main", "--json")
    event = json.loads(output)["events"][0]
    assert event["routes"] == ["0"]
    assert event["receivers"] == ["team"]
    assert event["labels"]["branch"] == "main"
    assert event["trace"][0]["selected"] is True
    assert event["trace"][1]["reached"] is False
    fixed = json.loads(route_test(config, "--label", "transition=fixed", "--json"))
    assert fixed["events"][0]["receivers"] == ["release"]


def test_route_test_reports_ignored_payloads(config: Path) -> None:
    """A payload the source deliberately ignores (a ping) says so instead of failing."""
    args = ["route-test", "--source", "github", "--event", str(FIXTURES / "github" / "ping.json")]
    result = runner.invoke(cli, [*args, "--header", "X-GitHub-Event=ping", "--config", str(config)])
    assert result.exit_code == 0
    assert "ignored" in result.output


def test_route_test_rejects_invalid_config(tmp_path: Path) -> None:
    """route-test refuses to run on an invalid config, printing its errors."""
    path = tmp_path / "bad.yaml"
    path.write_text("routes: [{ to: [nope] }]\n")
    args = ["route-test", "--source", "github", "--event", str(RUN_FAILED), "--config", str(path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "undefined channel" in result.output
