"""Shared pytest setup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.store import Store
from pgserver import PgServer, find_bindir, running_server
from stores import Backend, PostgresBackend, SqliteBackend

# Channel tests: fake provider servers (tests/providers/fixtures.py).
pytest_plugins = ["providers.fixtures", "browser", "ci_apis"]


@pytest.fixture(scope="session")
def pg_bindir() -> Path:
    """Where PostgreSQL's server binaries are; the test is skipped, saying so, without them."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: `make test` installs them"
        )
    return bindir


@pytest.fixture(scope="session")
def pg_server(pg_bindir: Path) -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the session (each test gets a database of its own)."""
    with running_server(pg_bindir) as server:
        yield server


@pytest.fixture
def own_pg_server(pg_bindir: Path) -> Iterator[PgServer]:
    """A PostgreSQL server of the test's own, to stop and start again."""
    with running_server(pg_bindir) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh database on each store: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield SqliteBackend(tmp_path / "data")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.database()
    yield PostgresBackend(server, url)
    server.drop(url)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A running store on a fresh database."""
    s = backend.store()
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
