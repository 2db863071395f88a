"""`sources: <ci>: poll:` in routes.yaml: parsed per CI system, refused with file:line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.pollers.spec import GitHubPoll, GitLabPoll, JenkinsPoll
from app.routing.config import ConfigInvalid, RoutingConfig, parse_config

HEAD = "channels: { log: { type: log } }\nroutes: [{ to: [log] }]\n"
POLLS = """sources:
  jenkins:
    poll:
      url: https://ci.example.com/
      user: signalbox
      token: ${JENKINS_API_TOKEN}
      jobs: [folder/app, "tools"]
  gitlab:
    token: hook-secret
    poll:
      url: https://gitlab.example.com
      token: ${GITLAB_API_TOKEN}
      projects: [group/app, 42]
      groups: [platform]
      interval: 2m
  github:
    poll:
      token: ${GITHUB_TOKEN}
      repos:
        - octo-org/octo-repo
        - { repo: octo-org/other, workflows: [CI], branches: [main] }
      look_back: 1h
"""
ENV = {"JENKINS_API_TOKEN": "j-secret", "GITLAB_API_TOKEN": "gl-secret", "GITHUB_TOKEN": "gh"}


def load(text: str, **env: str) -> RoutingConfig:
    return parse_config((HEAD + text).encode(), "routes.yaml", env=env)


def errors_of(text: str, **env: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load(text, **env)
    return [str(e) for e in caught.value.errors]


def test_poll_blocks_become_typed_settings_per_ci_system() -> None:
    """Each poll block is read by its CI's model, with defaults and its targets listed."""
    config = load(POLLS, **ENV)
    jenkins, gitlab, github = (config.polls[n] for n in ("jenkins", "gitlab", "github"))
    assert isinstance(jenkins, JenkinsPoll) and jenkins.url == "https://ci.example.com"
    assert jenkins.token_value() == "j-secret" and jenkins.interval == timedelta(seconds=60)
    assert isinstance(gitlab, GitLabPoll) and gitlab.interval == timedelta(minutes=2)
    assert [t.key for t in gitlab.targets()] == [
        "gitlab:project:group/app",
        "gitlab:project:42",
        "gitlab:group:platform",
    ]
    assert isinstance(github, GitHubPoll) and github.url == "https://api.github.com"
    assert github.look_back == timedelta(hours=1)
    other = github.targets()[1]
    assert (other.name, other.workflows, other.branches) == ("octo-org/other", ("CI",), ("main",))
    # The webhook's own token stays where it was; the poll block is not kept with it.
    assert config.sources["gitlab"].configured() and config.sources["gitlab"].poll is None


def test_poll_errors_name_file_line_and_cause() -> None:
    """Bad poll settings are refused with the line of the offending value."""
    errors = errors_of(
        """sources:
  jenkins:
    poll:
      url: ftp://ci.example.com
      token: t
      jobs: [a//b]
  alertmanager:
    poll: { url: http://am }
  github:
    poll:
      repos: [not-a-repo]
      interval: 0s
      colour: red
"""
    )
    assert errors == [
        "routes.yaml:6: sources.jenkins.poll.url: must be an http:// or https:// URL with a host",
        "routes.yaml:8: sources.jenkins.poll.jobs[0]: must be names separated by single slashes",
        "routes.yaml:10: source 'alertmanager' cannot be polled (polled: jenkins, gitlab, github)",
        "routes.yaml:13: sources.github.poll.repos[0].repo: must be owner/repository",
        "routes.yaml:14: sources.github.poll.interval: must be between 1s and 86400s",
        'routes.yaml:15: unknown key "colour" in sources.github.poll',
    ]


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    """A URL carrying user:password is refused, and the error never quotes the password."""
    errors = errors_of(
        "sources:\n  gitlab:\n    poll: { url: 'https://me:hunter2@gitlab.example.com', "
        "projects: [1] }\n"
    )
    assert len(errors) == 1 and "user:password@" in errors[0]
    assert "hunter2" not in errors[0]


def test_a_poll_without_token_is_allowed_with_a_warning() -> None:
    """Public repositories can be polled anonymously; the load says so."""
    config = load("sources:\n  github:\n    poll: { repos: [octo-org/octo-repo] }\n")
    assert any("polled without a token" in w and "github" in w for w in config.warnings)


def test_signalbox_check_validates_poll_blocks(tmp_path: Path) -> None:
    """`signalbox check` exits 1 naming the line of a bad poll block."""
    path = tmp_path / "routes.yaml"
    path.write_text(HEAD + "sources:\n  gitlab:\n    poll: { url: https://gitlab.example.com }\n")
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:5:" in result.output and "name projects or groups to watch" in result.output
