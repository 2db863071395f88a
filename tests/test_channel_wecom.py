"""WeCom against a fake group robot enforcing its byte limits and errcodes."""

from __future__ import annotations

import pytest

from channels.base import PermanentError, TooLarge, TransientError
from channels.wecom import WeComChannel, WeComConfig
from providers.sample import big_notification, notification, pipeline_event
from providers.wecom import FakeWeCom


def wecom(fake: FakeWeCom, key: str = "k-123", **extra: object) -> WeComChannel:
    url = f"{fake.base_url}/cgi-bin/webhook/send?key={key}"
    return WeComChannel("cn-wecom", WeComConfig.model_validate({"url": url, **extra}))


async def test_markdown_mentions_become_userid_tags(fake_wecom: FakeWeCom) -> None:
    """In markdown, mentioned_list is rendered as <@userid> in the content."""
    fake_wecom.robot("k-123")
    channel = wecom(fake_wecom, mentioned_list=["zhangsan"])
    await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    body = fake_wecom.requests[0].json()
    assert body["msgtype"] == "markdown" and "<@zhangsan>" in body["markdown"]["content"]


async def test_text_msgtype_carries_mobile_mentions(fake_wecom: FakeWeCom) -> None:
    """msgtype text sends plain text with mentioned_list and mentioned_mobile_list."""
    fake_wecom.robot("k-123")
    channel = wecom(fake_wecom, msgtype="text", mentioned_mobile_list=["13800001111", "@all"])
    await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    text = fake_wecom.requests[0].json()["text"]
    assert text["mentioned_mobile_list"] == ["13800001111", "@all"]
    assert "**" not in text["content"] and "流水线 #1" in text["content"]


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
async def test_big_group_split_within_byte_limit(fake_wecom: FakeWeCom, msgtype: str) -> None:
    """Chinese groups are split so every content stays ≤ 4,096 (markdown) / 2,048 (text) bytes."""
    fake_wecom.robot("k-123")
    fake_wecom.per_minute = 1_000
    channel = wecom(fake_wecom, msgtype=msgtype)
    messages = await channel.render(big_notification(count=12, summary_chars=200))
    assert len(messages) > 1
    for message in messages:
        await channel.send(message)
    await channel.aclose()


async def test_errcodes_map_to_retry_decisions(fake_wecom: FakeWeCom) -> None:
    """93000 is permanent, 45009 transient with a minute's wait, 40058 TooLarge."""
    channel = wecom(fake_wecom, key="unknown-key")
    message = (await channel.render(notification(pipeline_event(1))))[0]
    with pytest.raises(PermanentError, match="93000") as info:
        await channel.send(message)
    assert "unknown-key" not in str(info.value)
    fake_wecom.robot("k-123")
    good = wecom(fake_wecom)
    fake_wecom.force("rate_limit")
    with pytest.raises(TransientError) as rate:
        await good.send(message)
    assert rate.value.retry_after == 60.0
    [huge] = await good.render(big_notification(count=5), budget=10**6)
    with pytest.raises(TooLarge):
        await good.send(huge)
    await channel.aclose()
    await good.aclose()
