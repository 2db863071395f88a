"""`signalbox send-test CHANNEL` against fake providers, through the real CLI."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from providers.dingtalk import FakeDingTalk
from providers.feishu import FakeFeishu
from providers.pagerduty import FakePagerDuty
from providers.server import FakeProvider
from providers.teams import FakeTeams
from providers.telegram import FakeTelegram
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


def _new_channels(
    fake_feishu: FakeFeishu,
    fake_teams: FakeTeams,
    fake_telegram: FakeTelegram,
    fake_pagerduty: FakePagerDuty,
) -> dict[str, tuple[str, FakeProvider]]:
    """routes.yaml lines for a feishu, teams, telegram and pagerduty channel on the fakes."""
    hook = fake_feishu.bot("hook1", secret="feishuSecret")
    flow = fake_teams.flow("flow1", "sigValue")
    fake_telegram.bot("123:tok", "-1001")
    fake_pagerduty.keys.add("R" * 32)
    return {
        "fs": (
            f'{{ type: feishu, url: "{fake_feishu.base_url}{hook}", secret: feishuSecret }}',
            fake_feishu,
        ),
        "ms": (f'{{ type: teams, url: "{fake_teams.base_url}{flow}" }}', fake_teams),
        "tg": (
            f'{{ type: telegram, token: "123:tok", chat_id: "-1001", '
            f'api_url: "{fake_telegram.base_url}" }}',
            fake_telegram,
        ),
        "pd": (
            f'{{ type: pagerduty, routing_key: "{"R" * 32}", '
            f'url: "{fake_pagerduty.base_url}/v2/enqueue" }}',
            fake_pagerduty,
        ),
    }


def test_send_test_reaches_feishu_teams_telegram_and_pagerduty(
    tmp_path: Path,
    fake_feishu: FakeFeishu,
    fake_teams: FakeTeams,
    fake_telegram: FakeTelegram,
    fake_pagerduty: FakePagerDuty,
) -> None:
    """Each new channel type sends its one test message through the CLI and prints the
    provider's answer (Feishu signed, PagerDuty an incident for the send-test pipeline)."""
    channels = _new_channels(fake_feishu, fake_teams, fake_telegram, fake_pagerduty)
    routes = write_routes(
        tmp_path, "\n".join(f"  {n}: {line}" for n, (line, _) in channels.items())
    )
    answers = {
        "fs": "fs: sent: code 0 success",
        "ms": "ms: sent: HTTP 202",
        "tg": "tg: sent: ok, message_id 1",
        "pd": "pd: sent: HTTP 202 trigger",
    }
    for name, (_, fake) in channels.items():
        result = CliRunner().invoke(cli, ["send-test", name, "--config", str(routes)])
        assert result.exit_code == 0, result.output
        assert answers[name] in result.output
        [request] = fake.requests
        assert "send-test" in request.body.decode()
    assert fake_feishu.requests[0].json()["sign"]
    assert list(fake_pagerduty.incidents.values()) == ["triggered"]
