"""Feishu / Lark against a fake custom bot checking its signature, body size, rate and shape."""

from __future__ import annotations

import pytest

from channels.base import PermanentError, TooLarge, TransientError
from channels.feishu import FeishuChannel, FeishuConfig, feishu_sign
from providers.feishu import MAX_BODY_BYTES, FakeFeishu
from providers.sample import alert_event, big_notification, notification, pipeline_event

SECRET = "exampleFeishuSecret"


def feishu(fake: FakeFeishu, token: str = "hook-1", **extra: object) -> FeishuChannel:
    url = f"{fake.base_url}/open-apis/bot/v2/hook/{token}"
    return FeishuChannel("cn-feishu", FeishuConfig.model_validate({"url": url, **extra}))


def test_sign_matches_a_vector_computed_by_hand() -> None:
    """The sign is base64(HMAC-SHA256) keyed with "timestamp\\nsecret" over an empty message."""
    assert feishu_sign(SECRET, 1700000000) == "KAVz6mt2yjyYGOsZirwjG/gjbx7Rak7PYaGaF9vzk8g="


async def test_signed_card_is_accepted_with_a_red_header_in_chinese(
    fake_feishu: FakeFeishu,
) -> None:
    """A signing bot takes our card; the header is plain text, red for a failure, and the
    text is Chinese by default."""
    fake_feishu.bot("hook-1", SECRET)
    channel = feishu(fake_feishu, secret=SECRET)
    result = await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    assert result.detail == "code 0 success"
    body = fake_feishu.requests[0].json()
    assert body["msg_type"] == "interactive" and body["timestamp"].isdigit() and body["sign"]
    header = body["card"]["header"]
    assert header["template"] == "red" and header["title"]["tag"] == "plain_text"
    assert header["title"]["content"].startswith("❌ 失败：")
    [element] = body["card"]["elements"]
    assert element["tag"] == "markdown" and "请查看日志" in element["content"]


async def test_post_messages_carry_links_as_elements_in_the_language(
    fake_feishu: FakeFeishu,
) -> None:
    """msg_type post: one paragraph per line, links as `a` elements, keyed by the language."""
    fake_feishu.bot("hook-1")
    channel = feishu(fake_feishu, msg_type="post", language="en")
    group = notification(pipeline_event(1), alert_event(2, status="resolved"))
    await channel.send((await channel.render(group))[0])
    await channel.aclose()
    post = fake_feishu.requests[0].json()["content"]["post"]["en_us"]
    links = [e for p in post["content"] for e in p if e["tag"] == "a"]
    assert [link["href"] for link in links] == [
        "https://gitlab.example.com/pay/api/-/pipelines/1",
        "https://grafana.example.com/d/latency",
    ]
    texts = "".join(e.get("text", "") for p in post["content"] for e in p)
    assert "FAILED" in texts and "**" not in texts


async def test_error_codes_map_to_retry_decisions(fake_feishu: FakeFeishu) -> None:
    """19001 (unknown hook) and 19021 (bad sign) are permanent and name no secret; 11232
    ("frequency limited") is transient, left to the bus's backoff."""
    fake_feishu.bot("hook-1", SECRET)
    message = (await feishu(fake_feishu).render(notification(pipeline_event(1))))[0]
    unknown = feishu(fake_feishu, token="no-such-hook")
    with pytest.raises(PermanentError, match="19001") as info:
        await unknown.send(message)
    assert "no-such-hook" not in str(info.value)
    wrong = feishu(fake_feishu, secret="notTheSecret")
    with pytest.raises(PermanentError, match="19021") as info:
        await wrong.send(message)
    assert "notTheSecret" not in str(info.value) and "hook-1" not in str(info.value)
    good = feishu(fake_feishu, secret=SECRET)
    await good.send(message)
    fake_feishu.force("rate_limit")
    with pytest.raises(TransientError, match="11232") as throttled:
        await good.send(message)
    assert throttled.value.retry_after is None
    for channel in (unknown, wrong, good):
        await channel.aclose()


async def test_legacy_status_code_answer_is_understood(fake_feishu: FakeFeishu) -> None:
    """An answer with only StatusCode 0 (the legacy fields) counts as sent."""
    fake_feishu.bot("hook-1")
    fake_feishu.force("legacy_ok")
    channel = feishu(fake_feishu)
    result = await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    assert result.detail == "code 0 success"


@pytest.mark.parametrize("msg_type", ["interactive", "post"])
async def test_bodies_stay_within_20_kb_and_oversize_is_too_large(
    fake_feishu: FakeFeishu, msg_type: str
) -> None:
    """Rendered bodies fit 20 KB; one forced over it gets 9499, which is TooLarge (the
    conformance suite sends the parts split_for_retry makes of it)."""
    fake_feishu.bot("hook-1")
    fake_feishu.per_minute, fake_feishu.per_second = 1_000_000, 0
    channel = feishu(fake_feishu, msg_type=msg_type)
    group = big_notification(count=40, summary_chars=200)
    fitted = await channel.render(group)
    assert len(fitted) > 1
    for message in fitted:
        await channel.send(message)
    assert all(len(r.body) <= MAX_BODY_BYTES for r in fake_feishu.requests)
    [oversize] = await channel.render(group, budget=10**6)
    with pytest.raises(TooLarge, match="9499"):
        await channel.send(oversize)
    await channel.aclose()
