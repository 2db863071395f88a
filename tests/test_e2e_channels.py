"""A failing pipeline posted to /hooks/* reaches every channel's provider in its own format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures import load
from providers.dingtalk import FakeDingTalk
from providers.slack import FakeSlack
from providers.smtp import SmtpServer
from providers.webhook import FakeReceiver
from providers.wecom import FakeWeCom
from service import serve, wait_until

FIXTURE = "gitlab/pipeline_hook.failed.json"


def test_failed_pipeline_reaches_every_channel(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_dingtalk: FakeDingTalk,
    fake_wecom: FakeWeCom,
    fake_receiver: FakeReceiver,
    fake_smtp: SmtpServer,
) -> None:
    """One GitLab failure: Slack blocks, signed DingTalk markdown, WeCom markdown, a signed
    JSON webhook and a multipart e-mail, each naming the broken project."""
    fake_receiver.secret = "hook-secret"
    slack = f"{fake_slack.base_url}{fake_slack.hook_path()}"
    ding = f"{fake_dingtalk.base_url}{fake_dingtalk.robot('dtok', secret='SECding')}"
    wecom = f"{fake_wecom.base_url}{fake_wecom.robot('wkey')}"
    routes = f"""\
sources:
  gitlab: {{ token: "gl-token" }}
channels:
  slack: {{ type: slack, url: "{slack}" }}
  ding: {{ type: dingtalk, url: "{ding}", secret: SECding }}
  wecom: {{ type: wecom, url: "{wecom}" }}
  hook: {{ type: webhook, url: "{fake_receiver.base_url}/in", secret: hook-secret }}
  mail:
    type: email
    host: 127.0.0.1
    port: {fake_smtp.port}
    username: signalbox
    password: s3cret-smtp-pass
    from: signalbox@example.com
    to: [oncall@example.com, lead@example.com]
routes:
  - matchers: ['kind="pipeline"', 'status="failure"']
    to: [slack, ding, wecom, hook, mail]
"""
    fixture = load(FIXTURE)
    with serve(tmp_path, routes) as client:
        response = client.post(
            "/hooks/gitlab",
            content=fixture.body,
            headers={
                **fixture.headers,
                "content-type": "application/json",
                "x-gitlab-token": "gl-token",
            },
        )
        assert response.status_code == 202, response.text

        def sent() -> list[dict[str, Any]]:
            answer = client.get("/api/deliveries", params={"state": "sent"}).json()
            return list(answer["deliveries"])

        wait_until(lambda: len(sent()) == 5, within=10)
        delivered = sent()
    assert sorted(d["receiver"] for d in delivered) == ["ding", "hook", "mail", "slack", "wecom"]
    project = fixture.payload["project"]["path_with_namespace"]

    [slack_request] = fake_slack.requests
    body = slack_request.json()
    assert project in body["text"] and body["blocks"]

    [ding_request] = fake_dingtalk.requests
    assert ding_request.query["sign"] and ding_request.query["timestamp"]
    assert ding_request.json()["msgtype"] == "markdown"
    assert project in ding_request.json()["markdown"]["text"]

    [wecom_request] = fake_wecom.requests
    assert wecom_request.json()["msgtype"] == "markdown"
    assert project in wecom_request.json()["markdown"]["content"]

    [hook_request] = fake_receiver.requests
    assert hook_request.headers["x-signalbox-signature"].startswith("sha256=")
    [event] = hook_request.json()["events"]
    assert event["labels"]["status"] == "failure"
    assert event["labels"]["transition"] == "broken"

    [mail] = fake_smtp.handler.received
    assert sorted(mail.rcpt_tos) == ["lead@example.com", "oncall@example.com"]
    message = mail.message()
    assert project in str(message["Subject"])
    assert {part.get_content_type() for part in message.walk()} >= {"text/plain", "text/html"}
