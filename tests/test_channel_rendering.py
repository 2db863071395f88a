"""Default templates, template overrides and config validation shared by every channel."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from app.sources import SOURCE_MODULES
from channels import CHANNEL_TYPES
from channels.base import Message, PermanentError
from channels.dingtalk import DingTalkChannel, DingTalkConfig
from channels.email import EmailChannel, EmailConfig
from channels.log import LogChannel, LogConfig
from channels.pagerduty import PagerDutyChannel
from channels.rendering import summary_title
from channels.slack import SlackChannel, SlackConfig
from channels.wecom import WeComConfig
from fixtures import payload
from providers.harness import make_channel
from providers.sample import alert_event, big_notification, notification, pipeline_event

MINIMAL: dict[str, dict[str, object]] = {
    "log": {},
    "slack": {"url": "https://hooks.slack.com/services/T/B/secret"},
    "email": {"host": "smtp.example.com", "from": "sb@example.com", "to": ["a@example.com"]},
    "dingtalk": {"url": "https://oapi.dingtalk.com/robot/send?access_token=t"},
    "wecom": {"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
    "webhook": {"url": "https://audit.example.com/events"},
    "feishu": {"url": "https://open.feishu.cn/open-apis/bot/v2/hook/t"},
    "teams": {"url": "https://prod-01.westus.logic.azure.com/workflows/w/triggers/manual/x"},
    "telegram": {"token": "123:abc", "chat_id": "-100123"},
    "pagerduty": {"routing_key": "R0212P1QXGEIQE2NMTQ7L7WXD00DWHIN"},
}


# The words each language marks failures, fixes and resolved alerts with.
STATE_WORDS = {"en": ("FAILED", "FIXED", "RESOLVED"), "zh": ("失败", "已修复", "已恢复")}


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("type_name", list(CHANNEL_TYPES))
async def test_every_channel_renders_chinese_failures_fixes_and_alerts(
    type_name: str, language: str
) -> None:
    """Each default template shows Chinese titles, the state words of its language and
    marks resolved alerts."""
    channel = make_channel(type_name, {**MINIMAL[type_name], "language": language})
    group = notification(
        pipeline_event(1),
        pipeline_event(2, status="success"),
        alert_event(3, status="resolved"),
    )
    # One message, or one per event for PagerDuty (an event per incident).
    text = "\n".join(m.text for m in await channel.render(group))
    assert "流水线 #1 失败" in text and "已修复" in text
    failed, fixed, resolved = STATE_WORDS[language]
    assert failed in text and fixed in text
    assert resolved in text
    text.encode("utf-8")


def test_titles_follow_alertmanager_and_ci_conventions() -> None:
    """Alert groups get [FIRING:n]/[RESOLVED]; a single CI event gets its state word."""
    firing = notification(alert_event(1), alert_event(2, status="resolved"))
    assert summary_title(firing).startswith("[FIRING:1] HighLatency")
    resolved = notification(alert_event(1, status="resolved"))
    assert summary_title(resolved).startswith("[RESOLVED]")
    assert summary_title(notification(pipeline_event(1, status="success"))).startswith("✅ FIXED")
    deploy = pipeline_event(1, status="success", kind="deployment", transition="unchanged")
    assert "DEPLOYED" in summary_title(notification(deploy))


async def test_slack_strikes_through_resolved_alerts_and_escapes_mrkdwn() -> None:
    """Resolved items are visibly struck through; <, > and & cannot inject Slack markup."""
    event = alert_event(1, status="resolved")
    event = event.model_copy(update={"title": "a <!channel> & b"})
    channel = SlackChannel("s", SlackConfig.model_validate(MINIMAL["slack"]))
    [message] = await channel.render(notification(event))
    assert "~a &lt;!channel&gt; &amp; b~" in message.text


async def test_route_template_beats_channel_template_beats_default() -> None:
    """Notification.template overrides ChannelConfig.template, which overrides the default."""
    channel = LogChannel("l", LogConfig(template="channel: {{ events | length }}"))
    group = notification(pipeline_event(1))
    assert (await channel.render(group))[0].text == "channel: 1"
    routed = notification(pipeline_event(1), template="route: {{ events[0].labels.branch }}")
    assert (await channel.render(routed))[0].text == "route: main"


def test_bad_template_is_a_config_validation_error_with_its_line() -> None:
    """A template that does not compile is rejected when routes.yaml is validated."""
    with pytest.raises(ValidationError, match="template line 2"):
        LogConfig(template="ok\n{% for %}")


@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("slack", {"url": ""}),
        ("dingtalk", {"url": " "}),
        ("wecom", {"url": ""}),
        ("webhook", {"url": ""}),
        ("feishu", {"url": ""}),
        ("teams", {"url": ""}),
        ("telegram", {"token": "", "chat_id": "-100123"}),
        ("telegram", {"token": "123:abc", "chat_id": ""}),
        ("pagerduty", {"routing_key": ""}),
        ("email", {"host": "", "from": "a@b.c", "to": ["x@y.z"]}),
        ("email", {"host": "h", "from": "a@b.c", "to": ["x@y.z"], "username": "u"}),
    ],
)
def test_channel_is_disabled_when_its_secret_resolved_empty(
    type_name: str, config: dict[str, object]
) -> None:
    """An empty URL/host (an unset ${VAR}) makes enabled() False so the bus skips it."""
    cls = CHANNEL_TYPES[type_name]
    parsed = cls.config_model.model_validate({"type": type_name, **config})
    assert not parsed.enabled()
    assert cls.config_model.model_validate({"type": type_name, **MINIMAL[type_name]}).enabled()


def test_configs_reject_unknown_keys_and_contradictions() -> None:
    """extra="forbid" catches typos; STARTTLS with implicit TLS, or mobiles in markdown, fail."""
    with pytest.raises(ValidationError):
        SlackConfig.model_validate({"url": "https://x", "channel": "#ops"})
    with pytest.raises(ValidationError, match="starttls"):
        EmailConfig.model_validate({**MINIMAL["email"], "starttls": True, "tls": True})
    with pytest.raises(ValidationError, match="msgtype: text"):
        WeComConfig.model_validate({**MINIMAL["wecom"], "mentioned_mobile_list": ["138"]})


async def test_email_threads_a_failure_and_its_fix_together() -> None:
    """The failure and the fix of one pipeline+branch share In-Reply-To; Message-IDs differ."""
    config = EmailConfig.model_validate(MINIMAL["email"])
    channel = EmailChannel("m", config)
    [broken] = await channel.render(notification(pipeline_event(1), group_key="g1"))
    [fixed] = await channel.render(
        notification(pipeline_event(2, status="success"), group_key="g2")
    )
    other = (await channel.render(notification(pipeline_event(3, branch="dev"), group_key="g1")))[0]
    mails = [channel.mail(m) for m in (broken, fixed, other)]
    assert mails[0]["In-Reply-To"] == mails[1]["In-Reply-To"] == mails[1]["References"]
    assert mails[0]["In-Reply-To"] != mails[2]["In-Reply-To"]
    assert mails[0]["Message-ID"] != mails[1]["Message-ID"]
    assert channel.mail(broken)["Message-ID"] == mails[0]["Message-ID"]  # stable on retry


async def test_split_for_retry_halves_events_then_budget() -> None:
    """After TooLarge a group splits by events; a single event re-renders at half the budget."""
    channel = DingTalkChannel("d", DingTalkConfig.model_validate(MINIMAL["dingtalk"]))
    [whole] = await channel.render(big_notification(count=4, summary_chars=100))
    halves = await channel.split_for_retry(whole)
    assert [len(m.source.events) for m in halves if m.source] == [2, 2]
    [single] = await channel.render(big_notification(count=1, summary_chars=2000))
    smaller = await channel.split_for_retry(single)
    assert all(m.budget == (single.budget or 0) // 2 for m in smaller)
    with pytest.raises(PermanentError):
        await channel.split_for_retry(Message(title="t", text="x"))


# How each language says Alertmanager left 7 alerts out.
LEFT_OUT = {
    "en": "and 7 more not sent by Alertmanager",
    "zh": "另有 7 条告警 Alertmanager 没有发来",
}


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("type_name", list(CHANNEL_TYPES))
async def test_alerts_alertmanager_left_out_are_counted_in_every_default_template(
    type_name: str, language: str
) -> None:
    """truncatedAlerts from Alertmanager reads "and N more not sent by Alertmanager" in
    the channel's language."""
    doc = payload("alertmanager/resolved.single.v4_truncatedAlerts.json")
    doc["truncatedAlerts"] = 7
    channel = make_channel(type_name, {**MINIMAL[type_name], "language": language})
    if isinstance(channel, PagerDutyChannel):
        # Only a trigger carries details: the alert fires here.
        doc["alerts"][0]["status"] = "firing"
    events = SOURCE_MODULES["alertmanager"].parse({}, doc)
    [message] = await channel.render(notification(*events))
    shown = [message.text]
    if isinstance(channel, EmailChannel):
        shown.append(str(channel.body_of(message)["html"]))
    if isinstance(channel, PagerDutyChannel):
        # A summary is one line about one alert: the count goes in the incident's details.
        shown = [json.dumps(message.body, ensure_ascii=False)]
    assert all(LEFT_OUT[language] in text for text in shown)
    doc["truncatedAlerts"] = 0
    events = SOURCE_MODULES["alertmanager"].parse({}, doc)
    [complete] = await channel.render(notification(*events))
    assert LEFT_OUT[language] not in complete.text
