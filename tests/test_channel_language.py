"""Messages in the reader's language: per channel, from `defaults:`, or the type's own."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.routing.config import ConfigInvalid, parse_config
from app.samples import sample_notifications
from channels import CHANNEL_TYPES
from channels.email import EmailChannel
from channels.mailthread import thread_of
from providers.harness import make_channel
from providers.sample import alert_event, notification, pipeline_event
from test_channel_rendering import MINIMAL

CHINESE_BY_DEFAULT = {"dingtalk", "wecom", "feishu"}


def test_chinese_robots_default_to_chinese_and_the_rest_to_english() -> None:
    """DingTalk, WeCom and Feishu speak Chinese unless told otherwise; the others English."""
    for type_name, cls in CHANNEL_TYPES.items():
        config = cls.config_model.model_validate({"type": type_name, **MINIMAL[type_name]})
        expected = "zh" if type_name in CHINESE_BY_DEFAULT else "en"
        assert config.wording().language == expected, type_name


def _routes(defaults: str, ding: str = "") -> bytes:
    return f"""
defaults: {{ {defaults} }}
channels:
  ding: {{ type: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=t"{ding} }}
  chat: {{ type: slack, url: "https://hooks.slack.com/services/T/B/x" }}
routes: [{{ to: [ding, chat] }}]
""".encode()


def test_defaults_language_applies_where_a_channel_sets_none() -> None:
    """`defaults: {language: en}` turns the robot English; a channel's own setting wins."""
    config = parse_config(_routes("language: en"), "routes.yaml", env={})
    assert config.channels["ding"].wording().language == "en"
    assert config.channels["chat"].wording().language == "en"
    config = parse_config(_routes("language: zh", ", language: en"), "routes.yaml", env={})
    assert config.channels["ding"].wording().language == "en"
    assert config.channels["chat"].wording().language == "zh"


def test_an_unknown_language_is_an_error_with_its_line() -> None:
    """`language: fr` is refused, naming the file and line where it is written."""
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(_routes("language: zh", ", language: fr"), "routes.yaml", env={})
    [error] = caught.value.errors
    assert error.line == 4 and "language" in str(error)
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(_routes("language: de"), "routes.yaml", env={})
    assert caught.value.errors[0].line == 2


async def _text(type_name: str, language: str, group: Any) -> str:
    channel = make_channel(type_name, {**MINIMAL[type_name], "language": language})
    return "\n".join(f"{m.title}\n{m.text}" for m in await channel.render(group))


# What a reader must find, per language, for: a third failure in a row, a fix, a digest,
# a fallback and alerts Alertmanager left out.
WORDING = {
    "zh": {
        "still_failing": [
            "❌ 失败：",
            "由 张三 触发",
            "2分5秒",
            "已经连续失败 3 次：请尽快查看日志，修复或回滚。",
        ],
        "fixed": ["已修复", "已经恢复通过，无需处理。"],
        "digest": ["汇总：限流期间共 15 条事件", "……另有 12 条事件未列出"],
        "fallback": [
            "（原渠道发送失败，由备用渠道送达）",
            "[告警中:{firing}]",
            "请尽快处理。",
            "已恢复",
        ],
    },
    "en": {
        "still_failing": ["❌ FAILED: ", "by 张三", "2m 5s", "Failing 3 runs in a row."],
        "fixed": ["FIXED", "Passing again: nothing to do."],
        "digest": ["Digest: 15 events while rate-limited", "… and 12 more event(s) not listed"],
        "fallback": [
            "(delivered to the fallback channel)",
            "[FIRING:{firing}]",
            "Look into it now.",
        ],
    },
}


def _groups() -> dict[str, Any]:
    samples = {s.name: s.notification for s in sample_notifications("ops")}
    return {
        "still_failing": notification(
            pipeline_event(1, transition="still_failing", failure_streak="3")
        ),
        "fixed": notification(pipeline_event(2, status="success")),
        "digest": samples["rate-limit digest (3 listed, 12 folded)"],
        "fallback": samples["fallback delivery (another channel gave up)"],
    }


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize(
    "type_name", ["dingtalk", "wecom", "feishu", "slack", "teams", "telegram", "email", "log"]
)
async def test_states_notes_digests_and_fallbacks_read_in_the_language(
    type_name: str, language: str
) -> None:
    """Status, streak, who, duration, what to do, digest and fallback notes are written in
    the channel's language (each sentence whole, not pieced together)."""
    for case, group in _groups().items():
        text = await _text(type_name, language, group)
        # The title counts the sample's firing alerts (the samples grow with the sources).
        firing = sum(e.status == "firing" for e in group.events)
        for words in WORDING[language][case]:
            assert words.format(firing=firing) in text, (case, words, text)


async def test_chinese_email_names_its_group_thread_and_html_in_chinese() -> None:
    """An e-mail to a Chinese channel has a Chinese thread subject for an unnamed group and
    its HTML part says what to do in Chinese."""
    channel = make_channel("email", {**MINIMAL["email"], "language": "zh"})
    assert isinstance(channel, EmailChannel)
    group = notification(alert_event(1), alert_event(2))
    [message] = await channel.render(group)
    assert thread_of(group, channel.words).subject() == "发给 ops 的告警"
    mail = channel.mail(message)
    assert mail["Subject"] == "发给 ops 的告警"
    html = str(channel.body_of(message)["html"])
    assert '<html lang="zh">' in html and "请尽快处理。" in html


@pytest.mark.parametrize(("language", "word"), [("zh", "告警中"), ("en", "FIRING")])
async def test_ops_templates_speak_the_channel_language(language: str, word: str) -> None:
    """An ops template sees `t` and localised events; the shared macros imported with the
    render's context speak its language, imported without it English."""
    channel = make_channel("log", {"language": language})
    template = (
        '{% import "_macros.j2" as m with context %}{{ t.state("firing") }} '
        "{{ events[0].state }} {{ m.footer(3, true, 0) }}"
    )
    [message] = await channel.render(replace(notification(alert_event(1)), template=template))
    assert message.text.startswith(f"{word} {word} ")
    assert ("另有 3 条事件未列出" in message.text) == (language == "zh")
    plain = '{% import "_macros.j2" as m %}{{ m.footer(3, false, 0) }}'
    [english] = await channel.render(replace(notification(alert_event(1)), template=plain))
    assert english.text == "… and 3 more event(s) not listed"
