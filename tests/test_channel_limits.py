"""The one shared split/truncate helper: every part within budget, valid UTF-8, nothing lost."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.limits import TRUNCATED, Budget, chunk_lines, fit, json_utf8_len, truncate, utf8_len

# No lone surrogates: they cannot be UTF-8 at all, so no provider text contains them.
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300)
cjk = st.text(alphabet=st.sampled_from("流水线失败告警恢复部署数据库，。😀é\n a"), max_size=300)


def render_items(items: Sequence[str], part: str) -> str:
    body = "\n".join(f"- {item}" for item in items)
    return f"## 标题 {part}\n{body}"


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.one_of(texts, cjk), max_size=25), limit=st.integers(40, 600))
def test_fit_parts_within_budget_valid_utf8_and_lossless(items: list[str], limit: int) -> None:
    """Every part fits the byte budget, encodes as UTF-8, and the parts list every item once."""
    budget = Budget(limit, utf8_len)
    parts = fit(items, render_items, budget)
    for part in parts:
        assert utf8_len(part.text) <= limit
        assert part.text.encode("utf-8").decode("utf-8") == part.text
        assert (part.index, part.count) == (parts.index(part) + 1, len(parts))
    assert [item for part in parts for item in part.items] == items


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(texts, cjk), limit=st.integers(0, 400))
def test_truncate_never_cuts_inside_a_character(text: str, limit: int) -> None:
    """Truncation yields a prefix plus the marker, within budget, as valid UTF-8."""
    out = truncate(text, Budget(limit, utf8_len))
    assert utf8_len(out) <= limit
    out.encode("utf-8")
    if out != text and out.endswith(TRUNCATED):
        assert text.startswith(out[: -len(TRUNCATED)])


def test_fit_marks_parts_and_truncates_single_oversize_item() -> None:
    """A group too big is split with (k/N) markers; one oversize item is visibly truncated."""
    items = ["短消息"] * 10 + ["长" * 500]
    parts = fit(items, render_items, Budget(120, utf8_len))
    assert len(parts) > 1
    assert all(f"({p.index}/{len(parts)})" in p.text for p in parts)
    assert parts[-1].items == ("长" * 500,)
    assert parts[-1].text.endswith("… (truncated)")


def test_fit_keeps_a_group_that_fits_in_one_unmarked_part() -> None:
    """When everything fits, there is one part and no marker."""
    parts = fit(["a", "b"], render_items, Budget(1000, utf8_len))
    assert len(parts) == 1 and "(1/1)" not in parts[0].text


def test_json_utf8_len_counts_escapes() -> None:
    """Newlines and quotes cost two bytes inside a JSON body; CJK three."""
    assert json_utf8_len('a\n"') == 5
    assert json_utf8_len("中") == 3


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(texts, cjk), limit=st.integers(1, 50))
def test_chunk_lines_respects_limit_and_keeps_text(text: str, limit: int) -> None:
    """Section chunks stay within the limit and lose no non-blank line content."""
    chunks = chunk_lines(text, Budget(limit))
    assert all(len(c) <= limit for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())
