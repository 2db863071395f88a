"""Teams against a fake Workflows webhook: Adaptive Card only, 202, 429, 413 and its errors."""

from __future__ import annotations

import pytest

from channels.base import PermanentError, TooLarge, TransientError
from channels.teams import TeamsChannel, TeamsConfig
from providers.sample import alert_event, big_notification, notification, pipeline_event
from providers.teams import MAX_BODY_BYTES, FakeTeams

SIG = "s1gnatureValue0123456789"


def teams(fake: FakeTeams, sig: str = SIG, workflow: str = "flow-1") -> TeamsChannel:
    """A channel posting to `workflow` with `sig`; the fake knows only flow-1 with SIG."""
    path = fake.flow("flow-1", SIG).replace("flow-1", workflow).replace(SIG, sig)
    return TeamsChannel("teams", TeamsConfig.model_validate({"url": fake.base_url + path}))


async def test_failure_goes_as_an_adaptive_card_with_a_red_title(fake_teams: FakeTeams) -> None:
    """The workflow takes a message with one Adaptive Card (202): the title block is bold and
    "Attention" coloured for a failure, each paragraph its own TextBlock, the link markdown."""
    channel = teams(fake_teams)
    group = notification(pipeline_event(1), alert_event(2, status="resolved"))
    result = await channel.send((await channel.render(group))[0])
    await channel.aclose()
    assert result.detail == "HTTP 202"
    [card] = fake_teams.cards()
    title, *blocks = card["body"]
    assert title["weight"] == "Bolder" and title["color"] == "Attention"
    assert all(block["type"] == "TextBlock" and block["wrap"] for block in blocks)
    text = "\n".join(block["text"] for block in blocks)
    assert (
        "[流水线 #1 失败：单元测试未通过](https://gitlab.example.com/pay/api/-/pipelines/1)" in text
    )
    assert "**Resolved**" in text


async def test_a_fix_is_green(fake_teams: FakeTeams) -> None:
    """A group of good news only has a "Good" (green) title."""
    channel = teams(fake_teams)
    await channel.send((await channel.render(notification(pipeline_event(1, "success"))))[0])
    await channel.aclose()
    assert fake_teams.cards()[0]["body"][0]["color"] == "Good"


async def test_throttling_and_refusals_are_classified(fake_teams: FakeTeams) -> None:
    """429 waits its Retry-After; a wrong sig (401) and an unknown workflow (404) are
    permanent, with Power Automate's error code and without the signature."""
    good = teams(fake_teams)
    [message] = await good.render(notification(pipeline_event(1)))
    fake_teams.force("rate_limit")
    with pytest.raises(TransientError, match="WorkflowRequestsThrottled") as throttled:
        await good.send(message)
    assert throttled.value.retry_after == 7
    wrong_sig = teams(fake_teams, sig="wrongSig99999")
    unknown = teams(fake_teams, workflow="flow-gone")
    for channel, expected in [
        (wrong_sig, "HTTP 401.*DirectApiAuthorizationRequired"),
        (unknown, "HTTP 404.*WorkflowNotFound"),
    ]:
        with pytest.raises(PermanentError, match=expected) as info:
            await channel.send(message)
        assert "wrongSig" not in str(info.value) and SIG not in str(info.value)
    for channel in (good, wrong_sig, unknown):
        await channel.aclose()


async def test_more_than_four_a_second_is_throttled_not_lost(fake_teams: FakeTeams) -> None:
    """Six sends in one second: the fifth gets 429 from the workflow, a transient error."""
    channel = teams(fake_teams)
    [message] = await channel.render(notification(pipeline_event(1)))
    outcomes = []
    for _ in range(6):
        try:
            await channel.send(message)
            outcomes.append("sent")
        except TransientError:
            outcomes.append("throttled")
    await channel.aclose()
    assert outcomes[:4] == ["sent"] * 4 and "throttled" in outcomes[4:]


async def test_cards_stay_under_28_kb_and_a_413_is_too_large(fake_teams: FakeTeams) -> None:
    """Sixty alerts go as several cards each under 28 KB; one forced over is TooLarge."""
    fake_teams.per_second = 0
    channel = teams(fake_teams)
    messages = await channel.render(big_notification(count=60))
    assert len(messages) > 1
    for message in messages:
        await channel.send(message)
    assert all(len(r.body) <= MAX_BODY_BYTES for r in fake_teams.requests)
    [oversize] = await channel.render(big_notification(count=60), budget=10**6)
    with pytest.raises(TooLarge, match="HTTP 413"):
        await channel.send(oversize)
    await channel.aclose()


async def test_a_retired_office_connector_s_200_is_read_for_its_error(
    fake_teams: FakeTeams,
) -> None:
    """On an Office 365 connector URL, "1" is sent, a 200 saying "HTTP error 429" is
    transient and any other 200 text permanent, pointing at Workflows."""
    path = "/webhookb2/0000-tenant@0000/IncomingWebhook/abc/def"
    fake_teams.connectors.add(path)
    connector = TeamsChannel("t", TeamsConfig.model_validate({"url": fake_teams.base_url + path}))
    [message] = await connector.render(notification(pipeline_event(1)))
    assert (await connector.send(message)).detail == "HTTP 200 1 (Office 365 connector)"
    fake_teams.force("rate_limit")
    with pytest.raises(TransientError, match="HTTP error 429"):
        await connector.send(message)
    gone = TeamsChannel("t", TeamsConfig.model_validate({"url": fake_teams.base_url + path + "x"}))
    with pytest.raises(PermanentError, match="use a Workflows URL"):
        await gone.send(message)
    for channel in (connector, gone):
        await channel.aclose()
