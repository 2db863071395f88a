"""Telegram against a fake Bot API that parses HTML parse mode and counts 4,096 characters."""

from __future__ import annotations

import pytest

from channels.base import PermanentError, SettingError, TransientError
from channels.mentions import Mention
from channels.telegram import TelegramChannel, TelegramConfig, mend_html
from providers.sample import alert_event, big_notification, notification, pipeline_event
from providers.telegram import MAX_TEXT_UNITS, FakeTelegram, parse_html, utf16_units

TOKEN = "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"
CHAT = "-1001234567890"


def telegram(fake: FakeTelegram, **extra: object) -> TelegramChannel:
    settings = {"token": TOKEN, "chat_id": CHAT, "api_url": fake.base_url, **extra}
    return TelegramChannel("tg", TelegramConfig.model_validate(settings))


async def test_message_is_html_the_api_parses_with_values_escaped(
    fake_telegram: FakeTelegram,
) -> None:
    """The bot posts HTML that Telegram parses; a payload's `<b>` and `&` arrive as text,
    the event's link as a link, and previews are off."""
    fake_telegram.bot(TOKEN, CHAT)
    event = pipeline_event(1, branch="<b>fix</b> & more")
    channel = telegram(fake_telegram)
    result = await channel.send((await channel.render(notification(event)))[0])
    await channel.aclose()
    assert result.detail == "ok, message_id 1"
    [sent] = fake_telegram.sent
    assert "<b>fix</b> & more" in sent["text"] and "FAILED" in sent["text"]
    assert sent["links"] == ["https://gitlab.example.com/pay/api/-/pipelines/1"]
    body = sent["body"]
    assert body["chat_id"] == int(CHAT) and body["parse_mode"] == "HTML"
    assert body["link_preview_options"] == {"is_disabled": True}


async def test_a_big_group_is_split_into_messages_under_4096(fake_telegram: FakeTelegram) -> None:
    """Sixty alerts go as several messages "(k/N)", every one accepted by the API (at most
    4,096 characters after parsing), together listing every alert."""
    fake_telegram.bot(TOKEN, CHAT)
    fake_telegram.per_minute = 1_000
    channel = telegram(fake_telegram)
    messages = await channel.render(big_notification(count=60, summary_chars=200))
    assert len(messages) > 2
    for message in messages:
        await channel.send(message)
    await channel.aclose()
    texts = [sent["text"] for sent in fake_telegram.sent]
    assert len(texts) == len(messages)
    assert all(utf16_units(text) <= MAX_TEXT_UNITS for text in texts)
    assert f"(1/{len(messages)})" in texts[0]
    assert all(f"api-{i}:9090" in "".join(texts) for i in range(60))


@pytest.mark.parametrize("mentions", [(), (Mention("张三"),)])
async def test_one_event_too_big_is_cut_with_its_tags_closed(
    fake_telegram: FakeTelegram, mentions: tuple[Mention, ...]
) -> None:
    """A single alert with a 20,000-character summary is cut to fit, and the HTML left
    parses at the first try (the tags the cut left open are closed before the mention
    line, if any)."""
    fake_telegram.bot(TOKEN, CHAT)
    channel = telegram(fake_telegram)
    group = notification(alert_event(1, summary="慢" * 20_000), mentions=mentions)
    [message] = await channel.render(group)
    await channel.send(message)
    await channel.aclose()
    [request] = fake_telegram.requests
    assert request.json()["parse_mode"] == "HTML"
    [sent] = fake_telegram.sent
    assert "慢" * 1_000 in sent["text"] and utf16_units(sent["text"]) <= MAX_TEXT_UNITS
    # Tags the cut left open close before the mention line, which stays unformatted.
    ending = "\n\n张三 please take a look" if mentions else "(truncated)"
    assert request.json()["text"].endswith(ending)


def test_mend_html_closes_what_a_cut_left_open() -> None:
    """A cut inside a tag, an entity or an open element is made well formed again."""
    assert mend_html("<b>x <i>y</i> z <a hr") == "<b>x <i>y</i> z </b>"
    assert mend_html("<b>a &am") == "<b>a </b>"
    parse_html(mend_html('<b>1 <a href="https://x.example/">2 <i>3'))


async def test_429_waits_retry_after(fake_telegram: FakeTelegram) -> None:
    """Flood control (429 with parameters.retry_after 7) is transient with a 7 s wait."""
    fake_telegram.bot(TOKEN, CHAT)
    channel = telegram(fake_telegram)
    [message] = await channel.render(notification(pipeline_event(1)))
    fake_telegram.force("rate_limit")
    with pytest.raises(TransientError, match="Too Many Requests") as info:
        await channel.send(message)
    await channel.aclose()
    assert info.value.retry_after == 7


async def test_html_the_api_refuses_is_sent_again_as_plain_text(
    fake_telegram: FakeTelegram,
) -> None:
    """An ops template writing a tag Telegram does not take: the words still arrive,
    without formatting, on the second request."""
    fake_telegram.bot(TOKEN, CHAT)
    channel = telegram(fake_telegram, template="{{ title | safe }}<div>{{ t.resolved }}</div>")
    result = await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    await channel.aclose()
    assert result.detail.startswith("ok")
    first, second = fake_telegram.requests
    assert first.json()["parse_mode"] == "HTML" and "parse_mode" not in second.json()
    assert fake_telegram.sent[0]["text"].endswith("Resolved")


async def test_refusals_are_permanent_and_name_the_fix(fake_telegram: FakeTelegram) -> None:
    """A group upgraded to a supergroup names the new chat_id; an unknown chat and a
    wrong token are permanent, and no error shows the token."""
    fake_telegram.bot(TOKEN, CHAT, "-100")
    fake_telegram.migrated["-100"] = -1009876543210
    for settings, expected in [
        ({"chat_id": "-100"}, "set chat_id to -1009876543210"),
        ({"chat_id": "-42"}, "chat not found"),
        ({"token": "654321:wrongTokenValue"}, "HTTP 401: Unauthorized"),
    ]:
        channel = telegram(fake_telegram, **settings)
        [message] = await channel.render(notification(pipeline_event(1)))
        with pytest.raises(PermanentError, match=expected) as info:
            await channel.send(message)
        await channel.aclose()
        assert "AAbbCC" not in str(info.value) and "wrongToken" not in str(info.value)


def test_chat_id_must_be_a_number_or_a_channel_name() -> None:
    """`chat_id: my group` is refused at load, an integer or "@name" accepted."""
    assert TelegramConfig.model_validate({"token": "t", "chat_id": -5}).chat_id == "-5"
    TelegramConfig.model_validate({"token": "t", "chat_id": "@ops_alerts"})
    with pytest.raises((SettingError, ValueError), match="chat_id"):
        TelegramConfig.model_validate({"token": "t", "chat_id": "my group"})
