"""Inhibit rules with Alertmanager's meaning: a firing source event mutes matching targets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from app.routing.matchers import Matcher, MatcherField

K = TypeVar("K")


def _all_match(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


class InhibitRule(BaseModel):
    """While an event matching `source_matchers` is active, events matching
    `target_matchers` that agree with it on every `equal` label are inhibited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: tuple[MatcherField, ...]
    target_matchers: tuple[MatcherField, ...]
    equal: tuple[str, ...] = ()

    def inhibitor(
        self, target: Mapping[str, str], sources: Iterable[tuple[K, Mapping[str, str]]]
    ) -> K | None:
        """The key of the first source that inhibits `target` under this rule, or None;
        `sources` are (key, labels) of the events active now."""
        if not _all_match(self.target_matchers, target):
            return None
        # Alertmanager's two-sided rule: when the target could itself be a source, sources
        # that are also targets do not count, so such events never inhibit each other and
        # an event never inhibits itself.
        two_sided = _all_match(self.source_matchers, target)
        for key, source in sources:
            if not _all_match(self.source_matchers, source):
                continue
            # A label missing on both sides is equal, as in Alertmanager ("" == "").
            if any(source.get(name, "") != target.get(name, "") for name in self.equal):
                continue
            if two_sided and _all_match(self.target_matchers, source):
                continue
            return key
        return None


def inhibition(
    rules: Iterable[InhibitRule],
    target: Mapping[str, str],
    active_sources: Iterable[tuple[K, Mapping[str, str]]],
) -> tuple[int, K] | None:
    """(index of the first rule, key of the source) under which `target` is inhibited, or
    None. `active_sources` are (key, labels) of the events active now; tracking them is the
    caller's job. Pure: no clock, no I/O."""
    sources = list(active_sources)
    for index, rule in enumerate(rules):
        key = rule.inhibitor(target, sources)
        if key is not None:
            return index, key
    return None
