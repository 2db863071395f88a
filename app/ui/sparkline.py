"""Success rate over time as buckets, and those buckets as a small inline SVG."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 120
HEIGHT = 28
PAD = 3


@dataclass(frozen=True)
class Bucket:
    runs: int
    successes: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.runs if self.runs else None


@dataclass(frozen=True)
class Series:
    """A window cut into equal buckets, oldest first."""

    label: str
    buckets: list[Bucket]

    @property
    def runs(self) -> int:
        return sum(b.runs for b in self.buckets)

    @property
    def rate(self) -> float | None:
        runs = self.runs
        return sum(b.successes for b in self.buckets) / runs if runs else None

    def summary(self) -> str:
        rate = self.rate
        if rate is None:
            return f"{self.label}: no finished runs"
        return f"{self.label}: {rate:.0%} of {self.runs} run{'s' if self.runs != 1 else ''}"


def bucketed(
    runs: Iterable[tuple[float, bool]], now: float, window: float, count: int, label: str
) -> Series:
    """(finished at, succeeded) pairs into `count` buckets covering the `window` before `now`."""
    size = window / count
    totals = [[0, 0] for _ in range(count)]
    for at, ok in runs:
        age = now - at
        if not 0 <= age < window:
            continue
        slot = count - 1 - int(age // size)
        totals[slot][0] += 1
        totals[slot][1] += int(ok)
    return Series(label, [Bucket(n, s) for n, s in totals])


def svg(series: Series) -> Markup:
    """A line through the buckets that had runs, a dot per bucket; empty buckets are gaps.

    The text summary goes in <title> and aria-label, so the figure is never colour alone.
    """
    step = (WIDTH - 2 * PAD) / max(len(series.buckets) - 1, 1)
    points = [
        (PAD + i * step, PAD + (1 - rate) * (HEIGHT - 2 * PAD))
        for i, b in enumerate(series.buckets)
        if (rate := b.rate) is not None
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    # Dots under 50% get their own class: the line's shape already says "low" without it.
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" class="{"low" if y > HEIGHT / 2 else "ok"}"/>'
        for x, y in points
    )
    shape = (
        f'<svg class="spark" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        ' role="img" aria-label="{summary}"><title>{summary}</title>'
        f'<line class="base" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}"'
        f' y2="{HEIGHT - PAD}"/><polyline points="{line}"/>{dots}</svg>'
    )
    # Only numbers are interpolated above; the one text, the summary, is escaped by format.
    return Markup(shape).format(summary=series.summary())  # noqa: S704
