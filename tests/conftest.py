"""Shared pytest setup."""

# Channel tests: fake provider servers (tests/providers/fixtures.py).
pytest_plugins = ["providers.fixtures"]
