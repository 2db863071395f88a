"""Inhibit rules with Alertmanager's meaning: a firing source event mutes matching targets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

from app.routing.matchers import Matcher, MatcherField


def _all_match(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


class InhibitRule(BaseModel):
    """While an event matching `source_matchers` is active, events matching
    `target_matchers` that agree with it on every `equal` label are inhibited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: tuple[MatcherField, ...]
    target_matchers: tuple[MatcherField, ...]
    equal: tuple[str, ...] = ()

    def inhibits(self, target: Mapping[str, str], sources: Iterable[Mapping[str, str]]) -> bool:
        if not _all_match(self.target_matchers, target):
            return False
        # Alertmanager's two-sided rule: when the target could itself be a source, sources
        # that are also targets do not count, so such events never inhibit each other and
        # an event never inhibits itself.
        two_sided = _all_match(self.source_matchers, target)
        for source in sources:
            if not _all_match(self.source_matchers, source):
                continue
            # A label missing on both sides is equal, as in Alertmanager ("" == "").
            if any(source.get(name, "") != target.get(name, "") for name in self.equal):
                continue
            if two_sided and _all_match(self.target_matchers, source):
                continue
            return True
        return False


def inhibiting_rule(
    rules: Iterable[InhibitRule],
    target: Mapping[str, str],
    active_sources: Iterable[Mapping[str, str]],
) -> InhibitRule | None:
    """The first rule under which `target` is inhibited by one of `active_sources`, or None.

    `active_sources` are the label sets of events currently firing; tracking them is the
    caller's job. Pure: no clock, no I/O.
    """
    sources = list(active_sources)
    return next((rule for rule in rules if rule.inhibits(target, sources)), None)


def is_inhibited(
    rules: Iterable[InhibitRule],
    target: Mapping[str, str],
    active_sources: Iterable[Mapping[str, str]],
) -> bool:
    """True when some rule inhibits `target` given the currently active source label sets."""
    return inhibiting_rule(rules, target, active_sources) is not None
