"""PagerDuty against a fake Events API v2 that opens and resolves incidents by dedup_key."""

from __future__ import annotations

import pytest

from channels.base import Notification, PermanentError, SettingError
from channels.pagerduty import DEDUP_KEY_CHARS, PagerDutyChannel, PagerDutyConfig, dedup_key
from providers.pagerduty import FakePagerDuty
from providers.sample import alert_event, notification, pipeline_event

KEY = "R0212P1QXGEIQE2NMTQ7L7WXD00DWHIN"


def pagerduty(fake: FakePagerDuty, **extra: object) -> PagerDutyChannel:
    fake.keys.add(KEY)
    settings = {"routing_key": KEY, "url": f"{fake.base_url}/v2/enqueue", **extra}
    return PagerDutyChannel("pd", PagerDutyConfig.model_validate(settings))


async def deliver(channel: PagerDutyChannel, group: Notification) -> list[str]:
    return [(await channel.send(m)).detail for m in await channel.render(group)]


async def test_an_alert_opens_and_closes_its_incident(fake_pagerduty: FakePagerDuty) -> None:
    """A firing alert triggers with its fingerprint as dedup_key and a critical severity;
    its resolution resolves that incident."""
    channel = pagerduty(fake_pagerduty)
    assert await deliver(channel, notification(alert_event(1))) == ["HTTP 202 trigger"]
    assert fake_pagerduty.incidents == {"alert-1": "triggered"}
    [trigger] = fake_pagerduty.triggers["alert-1"]
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "api-1:9090"
    assert payload["summary"].startswith("🔥 FIRING: HighLatency")
    assert trigger["links"] == [{"href": "https://grafana.example.com/d/latency", "text": "Open"}]
    assert payload["custom_details"]["annotations"] == {"summary": "接口延迟过高"}
    await deliver(channel, notification(alert_event(1, status="resolved")))
    await channel.aclose()
    assert fake_pagerduty.incidents == {"alert-1": "resolved"}
    assert fake_pagerduty.requests[-1].json() == {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": "alert-1",
    }


async def test_a_broken_pipeline_is_one_incident_until_fixed(fake_pagerduty: FakePagerDuty) -> None:
    """Two failures of main add to one incident (same dedup_key, though each run is its own
    event), a failure of another branch is another, and the fix of main resolves only main's;
    a running pipeline tells PagerDuty nothing."""
    channel = pagerduty(fake_pagerduty)
    await deliver(channel, notification(pipeline_event(1), pipeline_event(2)))
    await deliver(channel, notification(pipeline_event(3, branch="dev")))
    assert await deliver(channel, notification(pipeline_event(4, status="running"))) == []
    await deliver(channel, notification(pipeline_event(5, status="success")))
    await channel.aclose()
    main, dev = "gitlab/支付/payments-api/CI@main", "gitlab/支付/payments-api/CI@dev"
    assert fake_pagerduty.incidents == {main: "resolved", dev: "triggered"}
    assert len(fake_pagerduty.triggers[main]) == 2


def test_dedup_key_is_the_subject_and_fits_255() -> None:
    """A job and an environment are subjects of their own; a key longer than 255 is cut
    and hashed, so two long subjects differing at the end stay apart."""
    job = pipeline_event(1, kind="job", job="unit-tests")
    assert dedup_key(job) == "gitlab/支付/payments-api/CI/unit-tests@main"
    deploy = pipeline_event(1, kind="deployment", environment="prod")
    assert dedup_key(deploy) == "gitlab/支付/payments-api/CI/prod"
    long_a, long_b = (pipeline_event(1, branch="b" * 300 + end) for end in "xy")
    assert len(dedup_key(long_a)) == DEDUP_KEY_CHARS
    assert dedup_key(long_a) != dedup_key(long_b)


@pytest.mark.parametrize(
    ("label", "settings", "expected"),
    [
        ("critical", {}, "critical"),
        ("P2", {}, "error"),
        ("warn", {}, "warning"),
        ("none", {}, "info"),
        ("", {}, "error"),
        ("", {"default_severity": "warning"}, "warning"),
        ("sev1", {"severities": {"SEV1": "critical"}}, "critical"),
    ],
)
def test_severity_comes_from_the_label(
    label: str, settings: dict[str, object], expected: str
) -> None:
    """The `severity` label maps to PagerDuty's four (own spellings added in settings);
    without one the default applies."""
    channel = PagerDutyChannel(
        "pd", PagerDutyConfig.model_validate({"routing_key": KEY, **settings})
    )
    assert channel.severity(pipeline_event(1, severity=label)) == expected


async def test_an_invalid_event_is_permanent_with_pagerduty_s_errors(
    fake_pagerduty: FakePagerDuty,
) -> None:
    """A routing key PagerDuty does not know answers 400 "invalid event": permanent, the
    reason in the detail, the key nowhere."""
    channel = pagerduty(fake_pagerduty, routing_key="Q" * 32)
    with pytest.raises(PermanentError, match="Invalid routing key") as info:
        await deliver(channel, notification(alert_event(1)))
    await channel.aclose()
    assert "QQQQ" not in str(info.value)


def test_a_rest_api_key_is_refused_at_load() -> None:
    """A routing key that is not 32 letters and digits is an error naming the setting."""
    with pytest.raises((SettingError, ValueError), match="routing_key"):
        PagerDutyConfig.model_validate({"routing_key": "u+abcdefGHIJ_rest"})
