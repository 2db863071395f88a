"""Shared HTTP plumbing: retry classification, Retry-After, redaction, exception translation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from channels.base import Message, PermanentError, TooLarge, TransientError
from channels.http import classify_http, parse_retry_after
from channels.redact import Redactor
from channels.slack import SlackChannel, SlackConfig

SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/xoxSecretHookToken0123"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (204, None),
        (301, PermanentError),
        (400, PermanentError),
        (401, PermanentError),
        (404, PermanentError),
        (413, TooLarge),
        (429, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
    ],
)
def test_classify_http_table(status: int, expected: type[Exception] | None) -> None:
    """2xx is sent, 429 and 5xx are transient, 413 is TooLarge, other statuses permanent."""
    error = classify_http(status)
    assert (type(error) if error else None) is expected


def test_classify_http_honours_retry_after_seconds_and_date() -> None:
    """Retry-After is read as delta-seconds or as an HTTP-date."""
    assert (err := classify_http(429, "12")) is not None and err.retry_after == 12.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    err = classify_http(503, later)
    assert err is not None and err.retry_after is not None and 85 <= err.retry_after <= 90


def test_parse_retry_after_rejects_garbage_and_clamps_past_dates() -> None:
    """Unparseable values give None; dates in the past give 0."""
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_redactor_masks_url_tokens_query_values_and_encoded_forms() -> None:
    """Secrets, their URL-encoded forms, path tokens and query values all become ***."""
    redact = Redactor(
        [SLACK_URL, "https://oapi.dingtalk.com/robot/send?access_token=abcdef123456", "S/E+C=1"]
    )
    text = (
        f"failed {SLACK_URL} token xoxSecretHookToken0123 abcdef123456 "
        "S%2FE%2BC%3D1 https://x/y?sign=zzz&timestamp=1"
    )
    out = redact(text)
    for secret in ("xoxSecretHookToken0123", "abcdef123456", "S%2FE%2BC%3D1", "zzz"):
        assert secret not in out
    assert "***" in out


def _slack_with(handler: httpx.MockTransport) -> SlackChannel:
    channel = SlackChannel("s", SlackConfig.model_validate({"url": SLACK_URL}))
    channel._client = httpx.AsyncClient(transport=handler)
    return channel


async def test_transport_errors_become_transient_and_redacted() -> None:
    """A connection failure naming the URL is re-raised as TransientError without the token."""

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    channel = _slack_with(httpx.MockTransport(boom))
    with pytest.raises(TransientError) as info:
        await channel.send(Message(title="t", text="x"))
    assert "xoxSecretHookToken0123" not in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    await channel.aclose()


async def test_slack_body_other_than_ok_is_permanent() -> None:
    """HTTP 200 with a body other than "ok" is not success for a Slack webhook."""
    channel = _slack_with(httpx.MockTransport(lambda r: httpx.Response(200, text="maybe")))
    with pytest.raises(PermanentError):
        await channel.send(Message(title="t", text="x"))
    await channel.aclose()
