"""Alertmanager's most common shape: routes without receivers inherit the root's (fallback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.routing.config import ConfigInvalid, RoutingConfig, parse_config
from app.routing.explain import explain
from fixtures import fixtures_dir

# Alertmanager's documented layout turned into routes.yaml: a root receiver, and
# nested routes whose parents only select (matchers, no receiver of their own).
#   route: { receiver: default-receiver, routes: [
#     { matchers: [service=~"mysql|cassandra"], routes: [
#         { matchers: [severity="critical"], receiver: database-pager } ] },
#     { matchers: [team="frontend"], receiver: frontend-pager } ] }
ALERTMANAGER_SHAPE = """channels:
  default-receiver: { type: log }
  database-pager: { type: log }
  frontend-pager: { type: log }
fallback: [default-receiver]
routes:
  - matchers: ['service=~"mysql|cassandra"']
    routes:
      - matchers: ['severity="critical"']
        to: [database-pager]
  - matchers: ['team="frontend"']
    to: [frontend-pager]
"""


def load(text: str) -> RoutingConfig:
    return parse_config(text.encode(), "routes.yaml", env={})


def test_selecting_parent_without_receivers_inherits_the_fallback() -> None:
    """An event the parent matches but no child does goes to the root receiver (fallback),
    and the decision says route 0 inherited it; its matching child still goes to the pager."""
    config = load(ALERTMANAGER_SHAPE)
    warning = config.decide({"service": "mysql", "severity": "warning"})
    assert warning.routes == ["0"]
    assert warning.receivers == ["default-receiver"]
    assert not warning.fallback and not warning.dropped
    assert warning.inherited_fallback == ["0"]
    assert warning.as_dict()["inherited_fallback"] == ["0"]
    critical = config.decide({"service": "cassandra", "severity": "critical"})
    assert (critical.routes, critical.receivers) == (["0.0"], ["database-pager"])
    assert critical.inherited_fallback == []
    frontend = config.decide({"team": "frontend"})
    assert frontend.receivers == ["frontend-pager"] and frontend.inherited_fallback == []
    other = config.decide({"service": "nginx"})
    assert other.fallback and other.receivers == ["default-receiver"]


def test_nested_routes_without_to_inherit_through_every_level() -> None:
    """Receivers come from the nearest ancestor with `to`, else from the fallback."""
    config = load(
        """channels: { fb: { type: log }, team: { type: log } }
fallback: [fb]
routes:
  - matchers: ['kind="pipeline"']
    routes:
      - matchers: ['project=~"payments/.*"']
        routes: [{ matchers: ['branch="main"'] }]
  - matchers: ['kind="alert"']
    to: [team]
    routes: [{ matchers: ['severity="critical"'] }]
"""
    )
    deep = config.decide({"kind": "pipeline", "project": "payments/api", "branch": "main"})
    assert (deep.routes, deep.receivers, deep.inherited_fallback) == (["0.0.0"], ["fb"], ["0.0.0"])
    alert = config.decide({"kind": "alert", "severity": "critical"})
    assert (alert.routes, alert.receivers, alert.inherited_fallback) == (["1.0"], ["team"], [])


def test_empty_to_still_drops_and_stops_inheritance() -> None:
    """`to: []` sends nothing, and children without `to` inherit that nothing."""
    config = load(
        """channels: { fb: { type: log } }
fallback: [fb]
routes:
  - matchers: ['kind="job"']
    to: []
    routes: [{ matchers: ['status="failure"'] }]
"""
    )
    for labels in ({"kind": "job"}, {"kind": "job", "status": "failure"}):
        decision = config.decide(labels)
        assert decision.receivers == [] and decision.inherited_fallback == []
        assert not decision.fallback and not decision.dropped


def test_without_fallback_a_route_with_no_receivers_up_its_chain_is_an_error() -> None:
    """No `to` anywhere up the chain and no fallback would swallow events: still an error."""
    with pytest.raises(ConfigInvalid) as raised:
        load(ALERTMANAGER_SHAPE.replace("fallback: [default-receiver]\n", ""))
    assert [str(e) for e in raised.value.errors] == [
        "routes.yaml:6: route 0 names no receivers, nor does any route above it, and there is "
        'no fallback: add "to: [...]" (or "to: []" to drop what it matches)'
    ]


def test_route_test_says_when_receivers_come_from_the_fallback(tmp_path: Path) -> None:
    """`route-test` and its explanation mark a route whose receivers are the fallback's."""
    config = load(ALERTMANAGER_SHAPE)
    explanation = explain(config, {"service": "mysql"}, datetime.now(UTC))
    lines = explanation.lines()
    assert lines[0] == ("routes 0 → default-receiver (route 0 names no receivers: the fallback's)")
    assert "MATCHED → default-receiver (inherited from fallback)" in lines[1]
    path = tmp_path / "routes.yaml"
    path.write_text(
        ALERTMANAGER_SHAPE.replace('service=~"mysql|cassandra"', 'kind="pipeline"'),
        encoding="utf-8",
    )
    event = fixtures_dir() / "github" / "workflow_run.completed.failure.json"
    args = ["route-test", "--source", "github", "--event", str(event), "--config", str(path)]
    result = CliRunner().invoke(cli, [*args, "--header", "X-GitHub-Event=workflow_run", "--json"])
    assert result.exit_code == 0, result.output
    [routed] = json.loads(result.output)["events"]
    assert routed["inherited_fallback"] == ["0"]
    assert routed["trace"][0]["inherited_fallback"] is True
