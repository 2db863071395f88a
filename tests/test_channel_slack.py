"""Slack against a fake incoming webhook speaking Slack's contract."""

from __future__ import annotations

import pytest

from channels.base import PermanentError, TooLarge
from channels.slack import SlackChannel, SlackConfig
from providers.sample import big_notification, notification, pipeline_event
from providers.slack import FakeSlack


def slack(fake: FakeSlack, path: str | None = None) -> SlackChannel:
    url = fake.base_url + (path or fake.hook_path())
    return SlackChannel("ops-slack", SlackConfig.model_validate({"url": url}))


async def test_posts_block_kit_with_plain_text_fallback(fake_slack: FakeSlack) -> None:
    """The webhook receives header + section blocks and a `text` fallback, UTF-8 JSON."""
    channel = slack(fake_slack)
    [message] = await channel.render(notification(pipeline_event(1)))
    result = await channel.send(message)
    await channel.aclose()
    assert result.detail == "HTTP 200 ok"
    body = fake_slack.requests[0].json()
    assert body["blocks"][0]["type"] == "header"
    assert "流水线 #1 失败" in body["text"]
    assert fake_slack.requests[0].headers["content-type"].startswith("application/json")


async def test_big_group_is_split_within_slack_limits(fake_slack: FakeSlack) -> None:
    """A group over 40,000 chars is sent as several marked messages Slack accepts."""
    channel = slack(fake_slack)
    messages = await channel.render(big_notification(count=150, summary_chars=400))
    assert len(messages) > 1 and messages[0].title.endswith(f"(1/{len(messages)})")
    for message in messages:
        await channel.send(message)
    await channel.aclose()
    assert sum(t.count("HighLatency 实例") for t in fake_slack.texts()) >= 150


async def test_unknown_hook_is_permanent(fake_slack: FakeSlack) -> None:
    """Slack's 404 no_service for a removed webhook is not worth retrying."""
    channel = slack(fake_slack, "/services/T0001/B0001/removedHookToken")
    with pytest.raises(PermanentError, match="no_service") as info:
        await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    assert "removedHookToken" not in str(info.value)


async def test_msg_too_long_is_too_large(fake_slack: FakeSlack) -> None:
    """Slack's 400 msg_too_long becomes TooLarge so the bus can split and retry."""
    channel = slack(fake_slack)
    [message] = await channel.render(big_notification(count=150), budget=10**6)
    with pytest.raises(TooLarge):
        await channel.send(message)
    await channel.aclose()
