"""Matchers: Alertmanager's four operators, anchoring, quoting, and numeric comparisons."""

from __future__ import annotations

import pytest

from app.routing.matchers import MatcherError, parse_matcher

LABELS = {"status": "failure", "project": "payments/api", "failure_streak": "3", "empty": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('status="failure"', True),
        ('status="fail"', False),
        ('status!="success"', True),
        ('status!="failure"', False),
        ('status=~"fail.*"', True),
        ('status=~"fail"', False),  # anchored at the end
        ('status=~"ail.*"', False),  # anchored at the start
        ('status=~"success|failure"', True),  # alternation anchored as a whole
        ('status!~"success|cancelled"', True),
        ('status!~"fail.*"', False),
    ],
)
def test_string_operators(text: str, expected: bool) -> None:
    """Each of =, !=, =~, !~ decides as Alertmanager does, regexes anchored at both ends."""
    assert parse_matcher(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('branch=""', True),
        ('branch!=""', False),
        ('branch!="main"', True),
        ('branch=~".*"', True),
        ('branch=~".+"', False),
        ('branch!~"main"', True),
        ('empty=""', True),
    ],
)
def test_missing_label_equals_empty_string(text: str, expected: bool) -> None:
    """A label the event lacks behaves exactly like a label set to ""."""
    assert parse_matcher(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("failure_streak>2", True),
        ("failure_streak>3", False),
        ("failure_streak>=3", True),
        ("failure_streak<3", False),
        ("failure_streak<=3", True),
        ("failure_streak>=2.5", True),
        ('failure_streak>="2"', True),
        ("status>0", False),  # non-numeric value never matches
        ("status<0", False),
        ("branch>=0", False),  # missing label is "", not a number
        ("branch<=0", False),
    ],
)
def test_numeric_operators(text: str, expected: bool) -> None:
    """>, >=, <, <= compare numerically and never match a non-numeric or missing value."""
    assert parse_matcher(text).matches(LABELS) is expected


@pytest.mark.parametrize("value", ["nan", "inf", "1_000", " 5", "0x10"])
def test_numeric_rejects_loose_number_forms(value: str) -> None:
    """Only plain decimal labels count as numbers, not float()'s nan/inf/underscores."""
    assert not parse_matcher("n>=0").matches({"n": value})
    assert not parse_matcher("n<=1e9").matches({"n": value})


def test_quoted_value_escapes() -> None:
    """\\" and \\\\ and \\n unescape; other backslashes stay, so regex escapes survive."""
    assert parse_matcher(r'title="say \"hi\""').value == 'say "hi"'
    assert parse_matcher(r'path="C:\\dir"').value == "C:\\dir"
    assert parse_matcher(r'text="a\nb"').value == "a\nb"
    version = parse_matcher(r'tag=~"v1\.2"')
    assert version.value == r"v1\.2"
    assert version.matches({"tag": "v1.2"})
    assert not version.matches({"tag": "v1x2"})


def test_unquoted_values_and_spaces() -> None:
    """Unquoted values are allowed like Alertmanager, and spaces around the operator too."""
    assert parse_matcher("severity=critical").matches({"severity": "critical"})
    assert parse_matcher("  severity  =~  crit.*  ").matches({"severity": "critical"})
    assert parse_matcher('commit = "a b"').value == "a b"


def test_equal_sign_inside_value_is_part_of_value() -> None:
    """Only the first operator splits: `url="a=b"` compares against `a=b`."""
    assert parse_matcher('url="a=b"').matches({"url": "a=b"})
    assert parse_matcher("url=a=b").value == "a=b"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('status=~"(failure"', "invalid regex"),
        ("failure_streak>=two", "needs a number"),
        ('status"failure"', "expected one of"),
        ('="x"', "label name"),
        ('status="open', "unterminated"),
        ('status="a" extra', "after the quoted value"),
    ],
)
def test_invalid_matchers_are_rejected(text: str, cause: str) -> None:
    """Bad regexes, non-numeric comparisons and malformed text raise a MatcherError saying why."""
    with pytest.raises(MatcherError, match=cause):
        parse_matcher(text)


def test_str_round_trips() -> None:
    """str() prints a matcher in a form parse_matcher reads back to the same matcher."""
    for text in ['a="x \\"y\\""', 'b!~"v1\\.2|v2"', "c>=2", 'd!=""']:
        matcher = parse_matcher(text)
        assert parse_matcher(str(matcher)) == matcher
