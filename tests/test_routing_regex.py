"""Regexes that see values from the network run on RE2: linear time, whatever the pattern.

The time-bound tests run their work in a child process with a generous timeout: a
backtracking engine needs 2^40+ steps for these inputs (hours), RE2 a few microseconds,
and a hung child can be killed where a hung test thread could not.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
