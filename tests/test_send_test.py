"""`signalbox send-test CHANNEL` against fake providers, through the real CLI."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from providers.dingtalk import FakeDingTalk
from providers.webhook import FakeReceiver


def write_routes(tmp_path: Path, channels: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(f"channels:\n{channels}\nroutes: []\n", encoding="utf-8")
    return path


def test_send_test_prints_the_provider_answer(tmp_path: Path, fake_dingtalk: FakeDingTalk) -> None:
    """A working robot gets one signed message in Chinese and English; the answer is printed."""
    path = fake_dingtalk.robot("tok", secret="SECabc")
    routes = write_routes(
        tmp_path,
        f'  ding: {{ type: dingtalk, url: "{fake_dingtalk.base_url}{path}", secret: SECabc }}',
    )
    result = CliRunner().invoke(cli, ["send-test", "ding", "--config", str(routes)])
    assert result.exit_code == 0, result.output
    assert "ding: sent:" in result.output
    [request] = fake_dingtalk.requests
    assert "测试消息" in request.json()["markdown"]["text"]
    assert request.query["sign"]


def test_send_test_reports_a_refusal(tmp_path: Path, fake_receiver: FakeReceiver) -> None:
    """A provider error is printed as transient or permanent with exit 1."""
    fake_receiver.force("http_500")
    routes = write_routes(
        tmp_path, f'  hook: {{ type: webhook, url: "{fake_receiver.base_url}/x" }}'
    )
    result = CliRunner().invoke(cli, ["send-test", "hook", "--config", str(routes)])
    assert result.exit_code == 1
    assert "transient failure: HTTP 500" in result.output


def test_send_test_names_unknown_and_disabled_channels(tmp_path: Path) -> None:
    """An unknown channel lists the known ones; a disabled one says why."""
    routes = write_routes(tmp_path, '  quiet: { type: slack, url: "${UNSET_SLACK_URL:-}" }')
    unknown = CliRunner().invoke(cli, ["send-test", "nope", "--config", str(routes)])
    assert unknown.exit_code == 1 and "channels: quiet" in unknown.output
    disabled = CliRunner().invoke(cli, ["send-test", "quiet", "--config", str(routes)])
    assert disabled.exit_code == 1 and "disabled" in disabled.output
