"""Shared pytest setup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import SqliteStore

# Channel tests: fake provider servers (tests/providers/fixtures.py).
pytest_plugins = ["providers.fixtures"]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A running store on a fresh SQLite file."""
    s = SqliteStore(tmp_path / "events.db")
    await s.start()
    yield s
    await s.close()
