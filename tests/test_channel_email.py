"""E-mail against a real aiosmtpd server: TLS modes, login, recipients, reply codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from channels.base import PermanentError, TransientError
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
        await channel.send(channel.render(group)[0])
    [received] = server.handler.received
    assert received.rcpt_tos == ["oncall@example.com", "dev@example.com"]
    mail = received.message()
    assert mail["Subject"].startswith("[FIRING:1]")
    assert mail["In-Reply-To"] and mail["Message-ID"] and mail["References"]
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and "HighLatency 实例 1" in text.get_content()
    assert html is not None and "HighLatency 实例 2</a></s>" in html.get_content()


async def test_untrusted_certificate_is_permanent(tls_cert: tuple[Path, Path]) -> None:
    """A server certificate we do not trust is a config error, not something to retry."""
    with smtp_server("tls", tls_cert) as server:
        channel = mailer(server.port, tls=True)
        with pytest.raises(PermanentError, match="certificate"):
            await channel.send(channel.render(notification(pipeline_event(1)))[0])


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
        await channel.send(channel.render(notification(pipeline_event(1)))[0])
    assert "wrong" not in str(info.value)


async def test_partly_refused_recipients_still_count_as_sent(fake_smtp: SmtpServer) -> None:
    """When some recipients are accepted, the send succeeds and names who was refused."""
    channel = mailer(fake_smtp.port, to=["ok@example.com", "nobody@example.com"])
    result = await channel.send(channel.render(notification(pipeline_event(1)))[0])
    assert "nobody@example.com" in result.detail
    assert fake_smtp.handler.received[0].rcpt_tos == ["ok@example.com"]


async def test_data_reply_4xx_transient_5xx_permanent(fake_smtp: SmtpServer) -> None:
    """A 452 to DATA is retried later; a 554 is not."""
    channel = mailer(fake_smtp.port)
    message = channel.render(notification(pipeline_event(1)))[0]
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
        await mailer(port).send(mailer(port).render(notification(pipeline_event(1)))[0])
