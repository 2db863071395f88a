"""DingTalk against a fake robot that checks access_token, sign and size as DingTalk does."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from channels.base import PermanentError, TooLarge, TransientError
from channels.dingtalk import DingTalkChannel, DingTalkConfig, dingtalk_sign
from providers.dingtalk import FakeDingTalk
from providers.sample import big_notification, notification, pipeline_event

SECRET = "SECexample0000000000000000000000000000000000000000000000000000000"


def ding(fake: FakeDingTalk, robot: str = "tok", **extra: object) -> DingTalkChannel:
    config = DingTalkConfig.model_validate(
        {"url": f"{fake.base_url}/robot/send?access_token={robot}", **extra}
    )
    return DingTalkChannel("cn-ding", config)


def test_sign_matches_the_documented_vector() -> None:
    """The sign for a known secret and timestamp equals DingTalk's algorithm done by hand."""
    sign = dingtalk_sign(SECRET, 1700000000000)
    assert sign == "HymifK0r91GEU51JbVt5kZDG/8mElqvhp80ZKEeAAno="
    assert quote_plus(sign) == "HymifK0r91GEU51JbVt5kZDG%2F8mElqvhp80ZKEeAAno%3D"


async def test_signed_markdown_with_mentions_is_accepted(fake_dingtalk: FakeDingTalk) -> None:
    """A signed robot accepts our timestamp+sign; @-ed mobiles appear in text and `at`."""
    fake_dingtalk.robot("tok", SECRET)
    channel = ding(fake_dingtalk, secret=SECRET, at_mobiles=["13800001111"], at_all=False)
    result = await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    assert result.detail == "errcode 0 ok"
    request = fake_dingtalk.requests[0]
    assert {"access_token", "timestamp", "sign"} <= set(request.query)
    body = request.json()
    assert body["msgtype"] == "markdown" and "@13800001111" in body["markdown"]["text"]
    assert body["at"] == {"atMobiles": ["13800001111"], "atUserIds": [], "isAtAll": False}


async def test_wrong_secret_is_permanent_and_redacted(fake_dingtalk: FakeDingTalk) -> None:
    """310000 sign not match is permanent and the error names neither token nor secret."""
    fake_dingtalk.robot("tok", SECRET)
    channel = ding(fake_dingtalk, secret="SECnotTheRightOne")
    with pytest.raises(PermanentError, match="310000") as info:
        await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    assert "SECnotTheRightOne" not in str(info.value)


async def test_rate_limit_is_transient_with_ten_minute_wait(fake_dingtalk: FakeDingTalk) -> None:
    """The 21st message in a minute gets 130101: transient, retry after the 10-minute penalty."""
    fake_dingtalk.robot("tok")
    channel = ding(fake_dingtalk)
    message = (await channel.render(notification(pipeline_event(1))))[0]
    for _ in range(20):
        await channel.send(message)
    with pytest.raises(TransientError) as info:
        await channel.send(message)
    await channel.aclose()
    assert info.value.retry_after == 600.0


async def test_oversize_body_is_too_large_then_split_fits(fake_dingtalk: FakeDingTalk) -> None:
    """460101 becomes TooLarge; split_for_retry yields messages the robot accepts, until
    every alert of the group has been accepted."""
    fake_dingtalk.robot("tok")
    channel = ding(fake_dingtalk)
    [message] = await channel.render(big_notification(count=30), budget=10**6)
    with pytest.raises(TooLarge):
        await channel.send(message)
    pending = await channel.split_for_retry(message)
    while pending:
        part = pending.pop(0)
        try:
            await channel.send(part)
        except TooLarge:
            pending[:0] = await channel.split_for_retry(part)
    await channel.aclose()
    accepted = "".join(r.body.decode() for r in fake_dingtalk.requests if len(r.body) <= 20_000)
    assert all(f"api-{i}:9090" in accepted for i in range(30))
