"""Shared pytest setup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import SqliteStore

# Channel tests: fake provider servers (tests/providers/fixtures.py).
pytest_plugins = ["providers.fixtures", "browser"]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A running store on a fresh SQLite file."""
    s = SqliteStore(tmp_path / "events.db")
    await s.start()
    yield s
    await s.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print figures tests recorded with record_property("figures", ...), even without -s."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "figures":
                    terminalreporter.write_line(f"{report.nodeid}: {outcome}: {value}")
