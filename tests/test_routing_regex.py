"""Regexes that see values from the network run on RE2: linear time, whatever the pattern.

The time-bound tests run their work in a child process with a generous timeout: a
backtracking engine needs 2^40+ steps for these inputs (hours), RE2 a few microseconds,
and a hung child can be killed where a hung test thread could not.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from app.routing.config import ConfigInvalid, parse_config
from app.routing.matchers import MatcherError, parse_matcher


def run_python(code: str, timeout: float = 60) -> str:
    """Run `code` in a fresh interpreter; its stdout, or fail if it errs or overruns."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_catastrophic_matcher_is_decided_at_once_on_a_long_value() -> None:
    """`branch=~"(a+)+$"` against 60 a's and a `!` (20 s at 28 characters under Python's
    `re`, doubling per character) routes promptly, matching and not matching as anchored."""
    output = run_python(
        """
        from app.routing.config import parse_config
        config = parse_config(
            b'''channels: { slow: { type: log }, rest: { type: log } }
        routes: [{ matchers: ['branch=~"(a+)+$"'], to: [slow] }]
        fallback: [rest]
        ''',
            "routes.yaml",
            env={},
        )
        for branch in ("a" * 60 + "!", "a" * 60, "a" * 100_000 + "!"):
            print(config.decide({"branch": branch}).receivers)
        """
    )
    assert output.split("\n")[:3] == ["['rest']", "['slow']", "['rest']"]


def test_regex_matchers_keep_alertmanager_anchoring() -> None:
    """Patterns match whole values only, as Alertmanager's `^(?:…)$`, and `!~` negates."""
    assert parse_matcher('branch=~"main|release/.*"').matches({"branch": "release/1.2"})
    assert not parse_matcher('branch=~"main"').matches({"branch": "main-old"})
    assert not parse_matcher('branch=~"ain"').matches({"branch": "main"})
    assert parse_matcher('branch!~"main"').matches({"branch": "mainline"})
    assert parse_matcher('branch=~""').matches({})  # a missing label is ""
    assert parse_matcher(r'tag=~"v\\d+\\.\\d+"').matches({"tag": "v1.20"})
    assert parse_matcher('team=~"数据.*"').matches({"team": "数据库组"})
    assert not parse_matcher('x=~"a$"').matches({"x": "a\n"})  # $ is the end of the text


def test_a_lone_surrogate_in_a_value_is_matched_not_raised() -> None:
    """A value holding a lone surrogate (JSON allows "\\ud800") matches `.` as Go reads it."""
    assert parse_matcher('x=~"a.b"').matches({"x": "a\ud800b"})
    assert not parse_matcher('x=~"ab"').matches({"x": "a\ud800b"})


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\\1", "(?=main)main", "(?<!x)y", "a++"],
    ids=["backreference", "lookahead", "lookbehind", "possessive"],
)
def test_a_pattern_re2_refuses_is_an_error_naming_the_matcher_and_line(pattern: str) -> None:
    """What RE2 cannot run in linear time is rejected at load: file:line, route, matcher."""
    text = f"""channels: {{ log: {{ type: log }} }}
routes:
  - to: [log]
    routes:
      - matchers: ['kind="alert"', 'branch=~"{pattern}"']
        to: [log]
"""
    with pytest.raises(ConfigInvalid) as raised:
        parse_config(text.encode(), "routes.yaml", env={})
    [error] = raised.value.errors
    matcher = f'branch=~"{pattern}"'
    assert str(error).startswith(
        f"routes.yaml:5: route 0.0: matchers[1]: matcher {matcher!r}: invalid regex"
    )
    assert "RE2" in str(error)
    assert error.public_text() == (
        "routes.yaml:5: route 0.0: matchers[1]: invalid matcher: invalid regex "
        "(RE2 syntax, as in Alertmanager: no backreferences or lookaround)"
    )


def test_inhibit_rule_regexes_are_re2_too() -> None:
    """Inhibit rules' matchers go through the same compiler and the same refusal."""
    text = """channels: { log: { type: log } }
routes: [{ to: [log] }]
inhibit_rules:
  - source_matchers: ['alertname=~"(?!Watchdog).*"']
    target_matchers: ['severity="warning"']
"""
    with pytest.raises(ConfigInvalid, match=r"routes.yaml:4: inhibit_rules\[0\]"):
        parse_config(text.encode(), "routes.yaml", env={})
    with pytest.raises(MatcherError, match="invalid regex"):
        parse_matcher(r'x=~"(a)\1"')


def test_source_timestamps_are_parsed_in_linear_time() -> None:
    """A payload timestamp with 300,000 spaces inside (the offset rewrite's regex was
    quadratic in them: 10 s at 20,000, so hours here) is refused at once."""
    output = run_python(
        """
        from pydantic import TypeAdapter, ValidationError
        from app.sources.base import Timestamp
        adapter = TypeAdapter(Timestamp)
        print(adapter.validate_python("2025-03-14 09:26:53 +0200").isoformat())
        print(adapter.validate_python("2025-03-14 09:26:53 UTC").isoformat())
        try:
            adapter.validate_python("2025-03-14" + " " * 300_000 + "x")
        except ValidationError as exc:
            print("refused:", exc.errors()[0]["msg"].partition(":")[0])
        """,
        timeout=30,
    )
    assert output.splitlines() == [
        "2025-03-14T09:26:53+02:00",
        "2025-03-14T09:26:53+00:00",
        "refused: Value error, not an ISO 8601 timestamp",
    ]
