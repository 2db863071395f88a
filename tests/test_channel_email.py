"""E-mail against a real aiosmtpd server: TLS modes, login, recipients, reply codes."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest

from app.events import Event
from channels.base import Notification, PermanentError, TransientError
from channels.email import EmailChannel, EmailConfig
from providers.sample import alert_event, notification, pipeline_event
from providers.smtp import USERS, SmtpServer, smtp_server


def mailer(port: int, **extra: Any) -> EmailChannel:
    config = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from": "signalbox@example.com",
        "to": ["oncall@example.com", "dev@example.com"],
        "timeout": 5,
        **extra,
    }
    return EmailChannel("oncall-mail", EmailConfig.model_validate(config))


@pytest.mark.parametrize("mode", ["plain", "starttls", "tls"])
async def test_multipart_mail_with_login_in_each_tls_mode(
    mode: str, tls_cert: tuple[Path, Path]
) -> None:
    """Plain, STARTTLS and implicit TLS all log in and deliver text + HTML to every recipient."""
    with smtp_server(mode, tls_cert) as server:
        channel = mailer(
            server.port,
            starttls=mode == "starttls",
            tls=mode == "tls",
            username="signalbox",
            password=USERS["signalbox"],
            ca_file=str(tls_cert[0]),
        )
        group = notification(alert_event(1), alert_event(2, status="resolved"))
        await channel.send((await channel.render(group))[0])
    [received] = server.handler.received
    assert received.rcpt_tos == ["oncall@example.com", "dev@example.com"]
    mail = received.message()
    assert mail["Subject"] == "Alerts to ops"
    assert mail["In-Reply-To"] and mail["Message-ID"] and mail["References"]
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and text.get_content().startswith("[FIRING:1]")
    assert "HighLatency 实例 1" in text.get_content()
    assert html is not None and "HighLatency 实例 2</a></s>" in html.get_content()


async def test_untrusted_certificate_is_permanent(tls_cert: tuple[Path, Path]) -> None:
    """A server certificate we do not trust is a config error, not something to retry."""
    with smtp_server("tls", tls_cert) as server:
        channel = mailer(server.port, tls=True)
        with pytest.raises(PermanentError, match="certificate"):
            await channel.send((await channel.render(notification(pipeline_event(1))))[0])


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"to": ["busy@example.com"]}, TransientError),
        ({"to": ["nobody@example.com"]}, PermanentError),
        ({"username": "signalbox", "password": "wrong"}, PermanentError),
    ],
)
async def test_reply_codes_decide_retry(
    fake_smtp: SmtpServer, extra: dict[str, Any], error: type[Exception]
) -> None:
    """451 for every recipient is transient; 550 and a 535 login failure are permanent."""
    channel = mailer(fake_smtp.port, **extra)
    with pytest.raises(error) as info:
        await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    assert "wrong" not in str(info.value)


async def test_partly_refused_recipients_still_count_as_sent(fake_smtp: SmtpServer) -> None:
    """When some recipients are accepted, the send succeeds and names who was refused."""
    channel = mailer(fake_smtp.port, to=["ok@example.com", "nobody@example.com"])
    result = await channel.send((await channel.render(notification(pipeline_event(1))))[0])
    assert "nobody@example.com" in result.detail
    assert fake_smtp.handler.received[0].rcpt_tos == ["ok@example.com"]


async def test_data_reply_4xx_transient_5xx_permanent(fake_smtp: SmtpServer) -> None:
    """A 452 to DATA is retried later; a 554 is not."""
    channel = mailer(fake_smtp.port)
    message = (await channel.render(notification(pipeline_event(1))))[0]
    fake_smtp.handler.forced_data.append("452 4.3.1 insufficient storage")
    with pytest.raises(TransientError):
        await channel.send(message)
    fake_smtp.handler.forced_data.append("554 5.7.1 rejected")
    with pytest.raises(PermanentError):
        await channel.send(message)


async def test_refused_connection_is_transient() -> None:
    """Nothing listening on the port is a transient failure."""
    with smtp_server("plain") as server:
        port = server.port
    with pytest.raises(TransientError):
        await mailer(port).send((await mailer(port).render(notification(pipeline_event(1))))[0])


def _guid(mail: EmailMessage) -> bytes:
    index = base64.b64decode(str(mail["Thread-Index"]))
    assert len(index) == 22 and index[0] == 1
    return index[6:]


def _assert_one_thread(first: EmailMessage, second: EmailMessage) -> None:
    """What Gmail, Outlook and Thunderbird thread on is the same for both mails."""
    assert first["Subject"] == second["Subject"] == first["Thread-Topic"] == second["Thread-Topic"]
    root = first["References"]
    assert root == first["In-Reply-To"] == second["References"] == second["In-Reply-To"]
    assert _guid(first) == _guid(second)
    assert first["Message-ID"] != second["Message-ID"]


def _first_line(mail: EmailMessage) -> str:
    """What a client previews: the first line of the text part."""
    text = mail.get_body(("plain",))
    assert text is not None
    return str(text.get_content()).splitlines()[0]


async def _mail_each(channel: EmailChannel, *groups: Notification) -> None:
    for group in groups:
        for message in await channel.render(group):
            await channel.send(message)


def _alone(event: Event) -> Notification:
    """How the bus hands over an event on a route with group_wait 0s: a group of its own."""
    return notification(event, group_key=f"0|oncall-mail|{event.id}")


async def test_failure_and_fix_share_one_thread_with_the_senders_domain(
    fake_smtp: SmtpServer,
) -> None:
    """A failure and its fix (group_wait 0s) carry the same subject, Thread-Topic,
    Thread-Index GUID and References; IDs take the domain of a display-named From."""
    channel = mailer(fake_smtp.port, **{"from": "Signalbox 通知 <sb@example.com>"})
    await _mail_each(
        channel,
        _alone(pipeline_event(1)),
        _alone(pipeline_event(2, status="success")),
        _alone(pipeline_event(3, branch="dev")),
    )
    broken, fixed, other = [r.message() for r in fake_smtp.handler.received]
    _assert_one_thread(broken, fixed)
    assert broken["Subject"] == "支付/payments-api · CI · main"
    assert other["References"] != broken["References"] and _guid(other) != _guid(broken)
    for mail in (broken, fixed):
        for header in ("Message-ID", "References"):
            assert str(mail[header]).endswith("@example.com>") and ">>" not in str(mail[header])
        assert parseaddr(str(mail["From"])) == ("Signalbox 通知", "sb@example.com")
    raw = fake_smtp.handler.received[0].content
    assert b"From: Signalbox =?utf-8?" in raw  # RFC 2047: the header itself stays ASCII
    assert _first_line(broken).startswith("❌ FAILED")
    assert _first_line(fixed).startswith("✅ FIXED")


async def test_an_alerts_firing_and_resolved_share_one_thread(fake_smtp: SmtpServer) -> None:
    """Ungrouped, one alert's firing and resolved mails thread together and apart from
    another alert's; a group's firing and resolved flushes thread by the group."""
    channel = mailer(fake_smtp.port)
    grouped = {"group_labels": {"alertname": "HighLatency"}, "group_key": "1|m|{alertname}"}
    await _mail_each(
        channel,
        _alone(alert_event(1)),
        _alone(alert_event(1, status="resolved")),
        _alone(alert_event(2)),
        notification(alert_event(1), alert_event(2), **grouped),
        notification(alert_event(1, status="resolved"), **grouped),
    )
    firing, resolved, another, group_firing, group_resolved = [
        r.message() for r in fake_smtp.handler.received
    ]
    _assert_one_thread(firing, resolved)
    assert firing["Subject"] == "HighLatency (api-1:9090 critical)"
    assert another["References"] != firing["References"]
    _assert_one_thread(group_firing, group_resolved)
    assert group_firing["Subject"] == "HighLatency"
