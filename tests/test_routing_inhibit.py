"""Inhibit rules with Alertmanager's meaning, as a pure function of active label sets."""

from __future__ import annotations

from collections.abc import Mapping

from app.routing.inhibit import InhibitRule, inhibition

CLUSTER_DOWN = InhibitRule.model_validate(
    {
        "source_matchers": ['alertname="ClusterDown"'],
        "target_matchers": ['source="alertmanager"'],
        "equal": ["cluster"],
    }
)
TARGET = {"source": "alertmanager", "alertname": "PodCrash", "cluster": "eu-1"}


def is_inhibited(
    rules: list[InhibitRule], target: Mapping[str, str], sources: list[Mapping[str, str]]
) -> bool:
    return inhibition(rules, target, enumerate(sources)) is not None


def test_active_source_inhibits_target_with_equal_labels() -> None:
    """A firing source matching source_matchers mutes a target with the same `equal` labels."""
    source = {"source": "alertmanager", "alertname": "ClusterDown", "cluster": "eu-1"}
    other = {"source": "alertmanager", "alertname": "Deploy"}
    assert inhibition([CLUSTER_DOWN], TARGET, [("quiet", other), ("down", source)]) == (0, "down")


def test_different_equal_label_does_not_inhibit() -> None:
    """A source in another cluster leaves the target alone."""
    source = {"source": "alertmanager", "alertname": "ClusterDown", "cluster": "us-1"}
    assert not is_inhibited([CLUSTER_DOWN], TARGET, [source])


def test_missing_equal_label_on_both_sides_counts_as_equal() -> None:
    """As in Alertmanager, a label absent from both source and target is equal ("")."""
    source = {"alertname": "ClusterDown"}
    assert is_inhibited([CLUSTER_DOWN], {"source": "alertmanager"}, [source])
    assert not is_inhibited([CLUSTER_DOWN], TARGET, [source])


def test_target_must_match_target_matchers_and_source_source_matchers() -> None:
    """Non-matching targets are never inhibited, and non-matching sources never inhibit."""
    source = {"alertname": "ClusterDown", "cluster": "eu-1"}
    assert not is_inhibited([CLUSTER_DOWN], {**TARGET, "source": "github"}, [source])
    assert not is_inhibited([CLUSTER_DOWN], TARGET, [{"alertname": "DiskFull", "cluster": "eu-1"}])
    assert not is_inhibited([CLUSTER_DOWN], TARGET, [])


def test_event_never_inhibits_itself() -> None:
    """An event matching both sides of a rule is not inhibited by itself being active."""
    down = {"source": "alertmanager", "alertname": "ClusterDown", "cluster": "eu-1"}
    assert not is_inhibited([CLUSTER_DOWN], down, [down])


def test_two_sided_matches_do_not_inhibit_each_other() -> None:
    """Two events both matching source and target matchers do not mute each other."""
    rule = InhibitRule.model_validate(
        {
            "source_matchers": ["severity=critical"],
            "target_matchers": ['severity=~"critical|warning"'],
            "equal": ["cluster"],
        }
    )
    first = {"severity": "critical", "cluster": "a", "alertname": "X"}
    second = {"severity": "critical", "cluster": "a", "alertname": "Y"}
    warning = {"severity": "warning", "cluster": "a", "alertname": "Z"}
    assert not is_inhibited([rule], first, [first, second])
    assert is_inhibited([rule], warning, [first])


def test_any_rule_may_inhibit() -> None:
    """With several rules, the first one that inhibits is reported, with the source."""
    by_severity = InhibitRule.model_validate(
        {"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"]}
    )
    warning = {"severity": "warning"}
    critical = {"severity": "critical"}
    assert inhibition([CLUSTER_DOWN, by_severity], warning, [("c", critical)]) == (1, "c")
