"""E-mail over SMTP (aiosmtplib): multipart text + HTML, threaded per pipeline or alert group.

Reply codes decide retries (RFC 5321 §4.2): 4xx transient, 5xx permanent; connection
failures and timeouts transient. https://www.rfc-editor.org/rfc/rfc5321#section-4.2
"""

from __future__ import annotations

import asyncio
import html
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import ClassVar, Literal, Self

import aiosmtplib
from pydantic import Field, SecretStr, model_validator

from channels.base import (
    ChannelConfig,
    DeliveryResult,
    MailAddress,
    Message,
    Notification,
    PermanentError,
    Port,
    Recipient,
    TransientError,
    secret_set,
)
from channels.limits import Budget, utf8_len
from channels.mailthread import mail_domain, message_id, thread_of
from channels.redact import Redactor
from channels.rendering import TemplatedChannel, render_capped
from channels.templating import named_template


class EmailConfig(ChannelConfig):
    # One SMTP session per message: a few at once is polite to mail servers.
    default_concurrency: ClassVar[int] = 2

    type: Literal["email"] = "email"
    host: str
    # None: 465 with implicit TLS, 587 with STARTTLS, else 25.
    port: Port | None = None
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    from_: MailAddress = Field(alias="from")
    to: list[Recipient] = Field(min_length=1)
    # PEM bundle to trust instead of the system CAs (internal relays).
    ca_file: str | None = None

    @model_validator(mode="after")
    def _one_tls_mode(self) -> Self:
        if self.starttls and self.tls:
            raise ValueError("choose one of starttls (upgrade) and tls (implicit)")
        return self

    def enabled(self) -> bool:
        if not self.host.strip() or not any(a.strip() for a in self.to):
            return False
        # A username without its password would only fail at AUTH.
        return not (self.username and not secret_set(self.password))

    def smtp_port(self) -> int:
        return self.port or (465 if self.tls else 587 if self.starttls else 25)


# Connection trouble, not a verdict on the message: worth retrying.
_CONNECTION_LOST = (
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPServerDisconnected,
)


def _smtp_error(exc: aiosmtplib.SMTPException, redact: Redactor) -> TransientError | PermanentError:
    if isinstance(exc.__cause__ or exc.__context__, ssl.SSLCertVerificationError):
        # An untrusted certificate stays untrusted: fix ca_file or the relay, don't retry.
        return PermanentError(redact(f"TLS certificate rejected: {exc}"))
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = redact("all recipients refused: " + "; ".join(str(r) for r in exc.recipients))
        transient = any(400 <= c < 500 for c in codes)
        return TransientError(detail) if transient else PermanentError(detail)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = redact(f"SMTP {exc.code}: {exc.message}")
        return TransientError(detail) if 400 <= exc.code < 500 else PermanentError(detail)
    if isinstance(exc, _CONNECTION_LOST):
        return TransientError(redact(f"{type(exc).__name__}: {exc}"))
    # SMTPNotSupported and the rest: the server lacks what the config asks for.
    return PermanentError(redact(f"{type(exc).__name__}: {exc}"))


class EmailChannel(TemplatedChannel):
    type_name: ClassVar[str] = "email"
    config_model: ClassVar[type[ChannelConfig]] = EmailConfig
    config: EmailConfig
    template_name: ClassVar[str] = "plain.txt.j2"
    html_template_name: ClassVar[str] = "email.html.j2"
    # The text part; more events go as further mails in the same thread. Relays refuse
    # messages over their SIZE (10–25 MB is common): text and HTML stay far below.
    budget: ClassVar[Budget] = Budget(200_000, utf8_len)
    # The HTML part, else it is the text part in <pre> (at most 5 bytes per character).
    html_bytes: ClassVar[int] = 5 * 200_000 + 64

    def __init__(self, name: str, config: EmailConfig) -> None:
        super().__init__(name, config)
        self.redact = Redactor.for_config(config)
        self.domain = mail_domain(config.from_)

    def build_body(self, title: str, text: str, source: Notification | None) -> dict[str, object]:
        preformatted = f"<pre>{html.escape(text)}</pre>"
        if source is None:
            return {"html": preformatted}
        page = preformatted  # an ops template is text: keep it as it is
        if not (source.template or self.config.template):
            context = self.context(source, source.events, title, "")
            page = render_capped(named_template(self.html_template_name, "html"), context)
            if utf8_len(page) > self.html_bytes:
                page = preformatted
        thread = thread_of(source, self.words)
        ids = ",".join(e.id for e in source.events)
        return {
            "html": page,
            "subject": thread.subject(),
            "message_id": message_id(
                f"{source.receiver}\0{source.group_key}\0{ids}\0{title}", self.domain
            ),
            "thread_root": thread.root_id(self.domain),
            "thread_topic": thread.subject(),
            "thread_index": thread.index(),
        }

    def mail(self, message: Message) -> EmailMessage:
        body = self.body_of(message)
        mail = EmailMessage()
        subject = body.get("subject")
        mail["Subject"] = subject if isinstance(subject, str) else message.title
        mail["From"] = self.config.from_
        mail["To"] = ", ".join(self.config.to)
        if cc := self.copied(message):
            mail["Cc"] = ", ".join(cc)
        mail["Date"] = formatdate(usegmt=True)
        if isinstance(msgid := body.get("message_id"), str):
            mail["Message-ID"] = msgid
        if isinstance(root := body.get("thread_root"), str):
            # Every message of a thread replies to the same virtual root, so clients
            # group a failure and its fix without us remembering past Message-IDs.
            mail["In-Reply-To"] = root
            mail["References"] = root
        for header, key in (("Thread-Topic", "thread_topic"), ("Thread-Index", "thread_index")):
            if isinstance(value := body.get(key), str):
                mail[header] = value
        mail.set_content(message.text)
        mail.add_alternative(str(body.get("html", "")), subtype="html")
        return mail

    def copied(self, message: Message) -> list[str]:
        """The mentioned people's addresses not already in `to`: their @ in a mail."""
        people = self.mentioned(message.source) if message.source else ()
        to = {parseaddr(a)[1].casefold() for a in self.config.to}
        found = (p.handle("email") for p in people)
        return list(dict.fromkeys(a for a in found if a and a.casefold() not in to))

    def tls_context(self) -> ssl.SSLContext | None:
        return (
            ssl.create_default_context(cafile=self.config.ca_file) if self.config.ca_file else None
        )

    async def send(self, message: Message) -> DeliveryResult:
        cfg = self.config
        login = bool(cfg.username)
        try:
            async with asyncio.timeout(cfg.timeout):
                refused, reply = await aiosmtplib.send(
                    self.mail(message),
                    hostname=cfg.host,
                    port=cfg.smtp_port(),
                    username=cfg.username if login else None,
                    password=cfg.password.get_secret_value() if login and cfg.password else None,
                    use_tls=cfg.tls,
                    start_tls=cfg.starttls,
                    tls_context=self.tls_context(),
                    timeout=cfg.timeout,
                )
        except aiosmtplib.SMTPException as exc:
            raise _smtp_error(exc, self.redact) from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(self.redact(f"TLS certificate rejected: {exc}")) from exc
        except (TimeoutError, OSError) as exc:
            raise TransientError(self.redact(f"{type(exc).__name__}: {exc}")) from exc
        detail = self.redact(reply)
        if refused:
            # Partial success: retrying would mail the accepted recipients twice.
            detail += self.redact(" (refused: " + ", ".join(sorted(refused)) + ")")
        return DeliveryResult(detail=detail)

    async def aclose(self) -> None:
        return None
