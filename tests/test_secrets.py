"""No configured secret ever leaves the process: not in logs, errors or API answers.

The real `signalbox serve` runs with every kind of secret set through the environment,
and is driven through the failing paths: wrong credentials, provider 5xx, dead
deliveries, a refused SMTP login.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import httpx

from fixtures import load
from process import free_port, signalbox
from providers.dingtalk import FakeDingTalk
from providers.slack import FakeSlack
from providers.smtp import SmtpServer
from providers.webhook import FakeReceiver
from providers.wecom import FakeWeCom

SECRETS = {
    "GITHUB_WEBHOOK_SECRET": "ghHookSecret7731",
    "GITLAB_WEBHOOK_TOKEN": "glHookToken7732",
    "JENKINS_WEBHOOK_TOKEN": "jkHookToken7733",
    "ALERTMANAGER_WEBHOOK_TOKEN": "amHookToken7734",
    "SIGNALBOX_API_TOKEN": "apiToken7735",
    "SLACK_SECRET": "slackPathSecret7736",
    "WECOM_KEY": "wecomKey7737",
    "DING_TOKEN": "dingAccessToken7738",
    "DING_SECRET": "SECdingSignSecret7739",
    "SMTP_PASSWORD": "smtpPassword7740",
    "HOOK_SECRET": "hookSignSecret7741",
    "HOOK_AUTH": "Bearer hookAuthHeader7742",
}

ROUTES = """\
sources:
  github: {{ secret: "${{GITHUB_WEBHOOK_SECRET}}" }}
  gitlab: {{ token: "${{GITLAB_WEBHOOK_TOKEN}}" }}
  jenkins: {{ token: "${{JENKINS_WEBHOOK_TOKEN}}" }}
  alertmanager: {{ token: "${{ALERTMANAGER_WEBHOOK_TOKEN}}" }}
channels:
  slack: {{ type: slack, url: "{slack}/services/T1/B1/${{SLACK_SECRET}}" }}
  wecom: {{ type: wecom, url: "{wecom}/cgi-bin/webhook/send?key=${{WECOM_KEY}}" }}
  ding:
    type: dingtalk
    url: "{ding}/robot/send?access_token=${{DING_TOKEN}}"
    secret: "${{DING_SECRET}}"
    fallback_channel: mail
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp}
    username: signalbox
    password: "${{SMTP_PASSWORD}}"
    from: signalbox@example.com
    to: [oncall@example.com]
  hook:
    type: webhook
    url: "{hook}/in"
    secret: "${{HOOK_SECRET}}"
    headers: {{ Authorization: "${{HOOK_AUTH}}" }}
routes:
  - matchers: ['source=~".+"']
    to: [slack, wecom, ding, mail, hook]
"""


def test_no_secret_in_logs_errors_or_answers(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_wecom: FakeWeCom,
    fake_dingtalk: FakeDingTalk,
    fake_receiver: FakeReceiver,
    fake_smtp: SmtpServer,
) -> None:
    """Wrong tokens, provider failures and dead deliveries leave no secret anywhere visible."""
    (tmp_path / "routes.yaml").write_text(
        ROUTES.format(
            slack=fake_slack.base_url,
            wecom=fake_wecom.base_url,  # the key is not registered: a permanent error
            ding=fake_dingtalk.base_url,
            smtp=fake_smtp.port,  # the password is wrong: login refused
            hook=fake_receiver.base_url,
        ),
        "utf-8",
    )
    fake_slack.hook_path("T1", "B1", SECRETS["SLACK_SECRET"])
    fake_slack.force("http_500", "http_500")
    fake_dingtalk.robot(SECRETS["DING_TOKEN"], SECRETS["DING_SECRET"])
    fake_dingtalk.force("bad_token")  # dead, then the mail fallback fails too
    fake_receiver.force(*["http_503"] * 20)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = {"authorization": f"Bearer {SECRETS['SIGNALBOX_API_TOKEN']}"}
    answers: list[str] = []
    with signalbox(tmp_path, port, {**SECRETS, "SIGNALBOX_SHUTDOWN_GRACE": "1"}):
        for source in ("github", "gitlab", "jenkins", "alertmanager"):
            wrong = {
                "authorization": "Bearer wrong",
                "x-gitlab-token": "wrong",
                "x-hub-signature-256": "sha256=00",
                "x-github-event": "workflow_run",
            }
            answers.append(httpx.post(f"{base}/hooks/{source}", json={}, headers=wrong).text)
        answers.append(post_github_failure(base).text)
        alert = load("alertmanager/firing.multi.v4_fingerprint.json").body
        bearer = {"authorization": f"Bearer {SECRETS['ALERTMANAGER_WEBHOOK_TOKEN']}"}
        headers = {**bearer, "content-type": "application/json"}
        answers.append(
            httpx.post(f"{base}/hooks/alertmanager", content=alert, headers=headers).text
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all_tried(base, api):
            time.sleep(0.2)
        assert all_tried(base, api)
        for path in ("/api/config", "/api/events", "/api/deliveries?limit=1000", "/metrics"):
            answers.append(httpx.get(base + path, headers=api).text)
        answers.append(httpx.get(f"{base}/api/events", headers={"authorization": "Bearer x"}).text)
        deliveries = httpx.get(f"{base}/api/deliveries", headers=api).json()["deliveries"]
    states = {d["receiver"]: d["state"] for d in deliveries}
    assert states["wecom"] == "dead" and states["ding"] == "dead", states
    assert any(d["last_error"] for d in deliveries if d["receiver"] == "mail"), deliveries
    logs = (tmp_path / "signalbox.log").read_text("utf-8")
    assert '"webhook refused"' in logs and '"delivery dead"' in logs
    for name, secret in SECRETS.items():
        for where, text in [("log", logs), *(("answer", a) for a in answers)]:
            assert secret.removeprefix("Bearer ") not in text, f"{name} leaked in {where}"


def post_github_failure(base: str) -> httpx.Response:
    fixture = load("github/workflow_run.completed.failure.json")
    mac = hmac.new(SECRETS["GITHUB_WEBHOOK_SECRET"].encode(), fixture.body, hashlib.sha256)
    headers = {
        "content-type": "application/json",
        "x-github-event": "workflow_run",
        "x-github-delivery": "secrets-1",
        "x-hub-signature-256": f"sha256={mac.hexdigest()}",
    }
    answer = httpx.post(f"{base}/hooks/github", content=fixture.body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer


def all_tried(base: str, api: dict[str, str]) -> bool:
    """Every receiver, the mail fallback included, has been tried, and Slack got through."""
    deliveries = httpx.get(f"{base}/api/deliveries", headers=api).json()["deliveries"]
    tried = {d["receiver"] for d in deliveries if d["attempts"]}
    sent = {d["receiver"] for d in deliveries if d["state"] == "sent"}
    return {"slack", "wecom", "ding", "mail", "hook"} <= tried and "slack" in sent
