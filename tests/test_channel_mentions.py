"""@-mentions in each chat, against fakes that notify only as their providers do."""

from __future__ import annotations

from typing import Any

import pytest

from channels.base import Notification
from channels.mentions import Mention
from providers.dingtalk import FakeDingTalk
from providers.feishu import FakeFeishu
from providers.harness import make_channel
from providers.sample import notification, pipeline_event
from providers.slack import FakeSlack
from providers.smtp import SmtpServer
from providers.telegram import FakeTelegram
from providers.webhook import FakeReceiver
from providers.wecom import FakeWeCom

ZHANG = Mention(
    "张三",
    {
        "dingtalk_mobile": "13800000000",
        "wecom": "ZhangSan",
        "feishu": "ou_7d8a6e6df7621556ce0d21922b676706",
        "slack": "U012AB3CD",
    },
)
LI = Mention("李四", {"dingtalk_user_id": "manager4711"})
# Someone no `people:` entry knows, whose name is a payload's and hostile.
STRANGER = Mention("<@all> **x** @all")


def broken(*people: Mention) -> Notification:
    return notification(pipeline_event(1), mentions=people)


async def _send(type_name: str, config: dict[str, Any], group: Notification) -> str:
    channel = make_channel(type_name, config)
    [message] = await channel.render(group)
    await channel.send(message)
    await channel.aclose()
    return message.text


async def test_dingtalk_notifies_mobiles_and_user_ids_named_in_text_and_at(
    fake_dingtalk: FakeDingTalk,
) -> None:
    """The person's mobile and the other's user id are @-ed in the text and listed in `at`
    (both, as DingTalk requires); the stranger is named, escaped, and notifies no one."""
    url = fake_dingtalk.base_url + fake_dingtalk.robot("tok")
    text = await _send(
        "dingtalk", {"url": url, "at_mobiles": ["13900000000"]}, broken(ZHANG, LI, STRANGER)
    )
    assert fake_dingtalk.notified == [{"13900000000", "13800000000", "manager4711"}]
    at = fake_dingtalk.requests[0].json()["at"]
    assert at["atMobiles"] == ["13900000000", "13800000000"] and at["isAtAll"] is False
    assert "@13800000000 @manager4711 ＜@all＞ ∗∗x∗∗ @all 请关注并处理" in text


async def test_wecom_notifies_user_ids_in_markdown_and_in_text_messages(
    fake_wecom: FakeWeCom,
) -> None:
    """Markdown carries `<@userid>`; a text message also lists the id in mentioned_list; a
    person without a WeCom id and the stranger are named, and `<@all>` in a name is inert."""
    url = fake_wecom.base_url + fake_wecom.robot("key")
    markdown = await _send("wecom", {"url": url}, broken(ZHANG, LI, STRANGER))
    await _send("wecom", {"url": url, "msgtype": "text"}, broken(ZHANG, STRANGER))
    assert fake_wecom.notified == [{"ZhangSan"}, {"ZhangSan"}]
    assert "<@ZhangSan> 李四 ＜@all＞" in markdown
    text_body = fake_wecom.requests[1].json()["text"]
    assert text_body["mentioned_list"] == ["ZhangSan"]


@pytest.mark.parametrize("msg_type", ["interactive", "post"])
async def test_feishu_notifies_open_ids_in_cards_and_posts(
    fake_feishu: FakeFeishu, msg_type: str
) -> None:
    """A card's markdown carries `<at id=open_id>`, a post an `at` element; others named."""
    url = fake_feishu.base_url + fake_feishu.bot("hook")
    await _send("feishu", {"url": url, "msg_type": msg_type}, broken(ZHANG, LI, STRANGER))
    assert fake_feishu.notified == [{"ou_7d8a6e6df7621556ce0d21922b676706"}]
    assert "李四" in fake_feishu.requests[0].body.decode()


async def test_slack_notifies_member_ids(fake_slack: FakeSlack) -> None:
    """Slack gets `<@U…>` for a member id; the stranger's `<@all>` arrives escaped."""
    url = fake_slack.base_url + fake_slack.hook_path()
    text = await _send("slack", {"url": url}, broken(ZHANG, STRANGER))
    assert "<@U012AB3CD> &lt;@all&gt;" in text
    assert "please take a look" in text


async def test_where_no_one_can_be_notified_people_are_named(fake_telegram: FakeTelegram) -> None:
    """Telegram has no handles in `people:`: everyone is named, HTML-escaped, so Telegram
    parses the message."""
    fake_telegram.bot("1:t", "-1")
    config = {"token": "1:t", "chat_id": "-1", "api_url": fake_telegram.base_url}
    await _send("telegram", config, broken(ZHANG, STRANGER))
    assert fake_telegram.sent[0]["text"].endswith("张三 <@all> **x** @all please take a look")


async def test_mentions_stay_in_every_part_within_the_limit(fake_dingtalk: FakeDingTalk) -> None:
    """A group split into parts @-s the people in each part, every part within 20,000 bytes."""
    url = fake_dingtalk.base_url + fake_dingtalk.robot("tok")
    fake_dingtalk.per_minute = 1_000
    channel = make_channel("dingtalk", {"url": url})
    people = tuple(Mention(f"p{i}", {"dingtalk_user_id": f"user{i:03}" * 8}) for i in range(10))
    events = [pipeline_event(i, branch="分支" * 1_500) for i in range(12)]
    messages = await channel.render(notification(*events, mentions=people))
    assert len(messages) > 1
    for message in messages:
        await channel.send(message)
    await channel.aclose()
    assert all(len(r.body) <= 20_000 for r in fake_dingtalk.requests)
    assert all(len(n) == 10 for n in fake_dingtalk.notified)


async def test_no_mentions_change_nothing(fake_dingtalk: FakeDingTalk) -> None:
    """Without mentions the message ends with the template's text, nothing asked of anyone."""
    url = fake_dingtalk.base_url + fake_dingtalk.robot("tok")
    text = await _send("dingtalk", {"url": url}, broken())
    assert "请关注并处理" not in text and fake_dingtalk.notified == [set()]


async def test_webhook_receivers_get_the_people_with_their_handles(
    fake_receiver: FakeReceiver,
) -> None:
    """The JSON body lists each mentioned person's name and handles for the receiver."""
    await _send("webhook", {"url": f"{fake_receiver.base_url}/in"}, broken(LI, STRANGER))
    assert fake_receiver.requests[0].json()["mentions"] == [
        {"name": "李四", "handles": {"dingtalk_user_id": "manager4711"}},
        {"name": "<@all> **x** @all", "handles": {}},
    ]


async def test_mail_copies_mentioned_people_and_names_them(fake_smtp: SmtpServer) -> None:
    """A person with an e-mail handle is copied (Cc, once, not when already a recipient)
    and everyone is named in the text and HTML parts, the stranger escaped."""
    wang = Mention("王五", {"email": "wang.wu@example.com"})
    oncall = Mention("值班", {"email": "ONCALL@example.com"})
    config = {
        "host": "127.0.0.1",
        "port": fake_smtp.port,
        "from": "signalbox@example.com",
        "to": ["Oncall <oncall@example.com>"],
    }
    text = await _send("email", config, broken(wang, oncall, STRANGER))
    [received] = fake_smtp.handler.received
    assert received.rcpt_tos == ["oncall@example.com", "wang.wu@example.com"]
    mail = received.message()
    assert mail["Cc"] == "wang.wu@example.com"
    assert text.endswith("王五 值班 <@all> **x** @all please take a look")
    html = mail.get_body(("html",))
    assert html is not None
    assert "<b>王五 值班 &lt;@all&gt; **x** @all</b> please take a look" in html.get_content()
