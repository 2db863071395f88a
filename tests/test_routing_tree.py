"""The route tree: first match, continue, nesting, inheritance, fallback and drop."""

from __future__ import annotations

from datetime import timedelta

from app.routing.config import RoutingConfig, parse_config

CHANNELS = """
channels:
  a: { type: log }
  b: { type: log }
  c: { type: log }
  fb: { type: log }
"""


def load(routes: str, extra: str = "") -> RoutingConfig:
    return parse_config((CHANNELS + routes + extra).encode(), "routes.yaml", env={})


def test_first_matching_sibling_wins() -> None:
    """Without `continue`, the first matching sibling stops the search."""
    config = load("""
routes:
  - { matchers: ['kind="pipeline"'], to: [a] }
  - { matchers: ['status="failure"'], to: [b] }
""")
    decision = config.decide({"kind": "pipeline", "status": "failure"})
    assert decision.routes == ["0"]
    assert decision.receivers == ["a"]
    assert config.decide({"kind": "job", "status": "failure"}).routes == ["1"]


def test_continue_lets_later_siblings_match() -> None:
    """A matching route with `continue: true` lets the next siblings match too."""
    config = load("""
routes:
  - { matchers: ['kind="pipeline"'], to: [a, b], continue: true }
  - { matchers: ['status="failure"'], to: [b, c] }
  - { matchers: ['status="failure"'], to: [c] }
""")
    decision = config.decide({"kind": "pipeline", "status": "failure"})
    assert decision.routes == ["0", "1"]
    assert decision.receivers == ["a", "b", "c"]  # b listed once
    assert [m.path for m in decision.matches] == ["0", "1"]
    assert not decision.fallback and not decision.dropped


def test_nested_child_refines_parent() -> None:
    """A matching child replaces its parent in the result; with none, the parent is the match."""
    config = load("""
routes:
  - matchers: ['kind="pipeline"']
    to: [a]
    routes:
      - { matchers: ['project=~"payments/.*"'], to: [b] }
      - { matchers: ['branch="main"'], to: [c] }
""")
    assert config.decide({"kind": "pipeline", "project": "payments/api"}).routes == ["0.0"]
    assert config.decide({"kind": "pipeline", "branch": "main"}).receivers == ["c"]
    assert config.decide({"kind": "pipeline", "project": "web"}).routes == ["0"]


def test_children_are_only_tried_inside_a_matching_parent() -> None:
    """A child never matches when its parent does not, even if the child's matchers would."""
    config = load("""
routes:
  - matchers: ['kind="alert"']
    to: [a]
    routes: [{ matchers: ['project="x"'], to: [b] }]
  - { matchers: ['project="x"'], to: [c] }
""")
    assert config.decide({"kind": "pipeline", "project": "x"}).routes == ["1"]


def test_continue_among_nested_children_and_deep_paths() -> None:
    """`continue` works at every depth and paths join indexes with dots."""
    config = load("""
routes:
  - { matchers: ['kind="alert"'], to: [a] }
  - matchers: ['kind="pipeline"']
    to: [a]
    routes:
      - matchers: ['status="failure"']
        continue: true
        routes:
          - { matchers: ['branch="main"'], to: [b] }
      - { matchers: ['project="p"'], to: [c] }
""")
    decision = config.decide(
        {"kind": "pipeline", "status": "failure", "branch": "main", "project": "p"}
    )
    assert decision.routes == ["1.0.0", "1.1"]
    assert decision.receivers == ["b", "c"]
    # The continuing child has no matching grandchild: it is itself the match, with the
    # receivers it inherited from route 1.
    decision = config.decide({"kind": "pipeline", "status": "failure", "project": "p"})
    assert decision.routes == ["1.0", "1.1"]
    assert decision.receivers == ["a", "c"]


def test_children_inherit_settings_and_may_override() -> None:
    """Unset settings come from the parent, then from `defaults:`; set ones override."""
    config = load(
        """
defaults: { group_wait: 10s, repeat_interval: 1h, dedup_window: 1m }
time_intervals:
  - { name: night, time_intervals: [{ times: [{ start_time: "00:00", end_time: "06:00" }] }] }
routes:
  - matchers: ['kind="pipeline"']
    to: [a]
    group_by: [project]
    group_wait: 1h30m
    send_resolved: false
    mute_when: [night]
    template: "{{ events | length }} events"
    routes:
      - { matchers: ['branch="main"'], group_interval: 2m }
      - { matchers: ['branch="dev"'], to: [b], mute_when: [], send_resolved: true }
"""
    )
    inherited = config.decide({"kind": "pipeline", "branch": "main"}).matches[0].settings
    assert inherited.receivers == ("a",)
    assert inherited.group_by == ("project",)
    assert inherited.group_wait == timedelta(hours=1, minutes=30)
    assert inherited.group_interval == timedelta(minutes=2)
    assert inherited.repeat_interval == timedelta(hours=1)
    assert inherited.dedup_window == timedelta(minutes=1)
    assert inherited.send_resolved is False
    assert [i.name for i in inherited.mute_when] == ["night"]
    assert inherited.template is not None
    assert inherited.template.render(events=[1, 2]) == "2 events"
    overriding = config.decide({"kind": "pipeline", "branch": "dev"}).matches[0].settings
    assert overriding.receivers == ("b",)
    assert overriding.mute_when == ()
    assert overriding.send_resolved is True


def test_defaults_apply_when_nothing_is_set() -> None:
    """Alertmanager-like defaults hold when neither routes nor `defaults:` set anything."""
    settings = load("routes: [{ to: [a] }]").decide({}).matches[0].settings
    assert settings.group_wait == timedelta(0)
    assert settings.group_interval == timedelta(minutes=5)
    assert settings.repeat_interval == timedelta(hours=4)
    assert settings.dedup_window == timedelta(minutes=5)
    assert settings.send_resolved is True
    assert settings.group_by == ()


def test_unmatched_event_goes_to_fallback() -> None:
    """An event no route matches goes to `fallback:` receivers, flagged as such."""
    config = load("routes: [{ matchers: ['kind=alert'], to: [a] }]\nfallback: [fb]\n")
    decision = config.decide({"kind": "pipeline"})
    assert decision.fallback and not decision.dropped
    assert decision.routes == []
    assert decision.receivers == ["fb"]
    assert decision.matches[0].is_fallback


def test_unmatched_event_without_fallback_is_dropped() -> None:
    """With no `fallback:`, an unmatched event is an explicit dropped decision."""
    decision = load("routes: [{ matchers: ['kind=alert'], to: [a] }]").decide({"kind": "job"})
    assert decision.dropped and decision.fallback
    assert decision.receivers == [] and decision.matches == []


def test_empty_to_silences_deliberately() -> None:
    """`to: []` matches and stops the search, so nothing is sent and nothing is dropped."""
    config = load(
        "routes:\n  - { matchers: ['kind=job'], to: [] }\n  - { to: [a] }\nfallback: [fb]\n"
    )
    decision = config.decide({"kind": "job"})
    assert decision.routes == ["0"]
    assert decision.receivers == []
    assert not decision.fallback and not decision.dropped


def test_route_without_matchers_matches_everything() -> None:
    """A route with no matchers is a catch-all, like Alertmanager's."""
    assert load("routes: [{ to: [a] }]").decide({}).routes == ["0"]
