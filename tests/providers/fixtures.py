"""pytest fixtures serving the fake providers; loaded by tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from providers.dingtalk import FakeDingTalk
from providers.feishu import FakeFeishu
from providers.pagerduty import FakePagerDuty
from providers.server import FakeProvider, serving
from providers.slack import FakeSlack
from providers.smtp import SmtpServer, self_signed_cert, smtp_server
from providers.teams import FakeTeams
from providers.telegram import FakeTelegram
from providers.webhook import FakeReceiver
from providers.wecom import FakeWeCom


@pytest.fixture(scope="session")
def _fake_http_servers() -> Iterator[dict[str, FakeProvider]]:
    apps: dict[str, FakeProvider] = {
        "slack": FakeSlack(),
        "dingtalk": FakeDingTalk(),
        "wecom": FakeWeCom(),
        "webhook": FakeReceiver(),
        "feishu": FakeFeishu(),
        "teams": FakeTeams(),
        "telegram": FakeTelegram(),
        "pagerduty": FakePagerDuty(),
    }
    with serving(apps):
        yield apps


P = TypeVar("P", bound=FakeProvider)


def _fresh(apps: dict[str, FakeProvider], name: str, kind: type[P]) -> P:
    """The session's server for `name`, with what earlier tests recorded forgotten."""
    app = apps[name]
    assert isinstance(app, kind)
    app.reset()
    return app


@pytest.fixture
def fake_slack(_fake_http_servers: dict[str, FakeProvider]) -> FakeSlack:
    return _fresh(_fake_http_servers, "slack", FakeSlack)


@pytest.fixture
def fake_dingtalk(_fake_http_servers: dict[str, FakeProvider]) -> FakeDingTalk:
    return _fresh(_fake_http_servers, "dingtalk", FakeDingTalk)


@pytest.fixture
def fake_wecom(_fake_http_servers: dict[str, FakeProvider]) -> FakeWeCom:
    return _fresh(_fake_http_servers, "wecom", FakeWeCom)


@pytest.fixture
def fake_receiver(_fake_http_servers: dict[str, FakeProvider]) -> FakeReceiver:
    return _fresh(_fake_http_servers, "webhook", FakeReceiver)


@pytest.fixture
def fake_feishu(_fake_http_servers: dict[str, FakeProvider]) -> FakeFeishu:
    return _fresh(_fake_http_servers, "feishu", FakeFeishu)


@pytest.fixture
def fake_teams(_fake_http_servers: dict[str, FakeProvider]) -> FakeTeams:
    return _fresh(_fake_http_servers, "teams", FakeTeams)


@pytest.fixture
def fake_telegram(_fake_http_servers: dict[str, FakeProvider]) -> FakeTelegram:
    return _fresh(_fake_http_servers, "telegram", FakeTelegram)


@pytest.fixture
def fake_pagerduty(_fake_http_servers: dict[str, FakeProvider]) -> FakePagerDuty:
    return _fresh(_fake_http_servers, "pagerduty", FakePagerDuty)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed cert + key for 127.0.0.1, generated once per test run."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake_smtp() -> Iterator[SmtpServer]:
    with smtp_server("plain") as server:
        yield server
