"""`signalbox check` refuses channel settings the client could not use, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli


def check(tmp_path: Path, channels: str, **env: str) -> tuple[int, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(f"channels:\n{channels}\nroutes: []\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(path)], env=env)
    return result.exit_code, result.output.replace(str(path), "routes.yaml")


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("hooks.slack.com/services/T0/B0/xyz", "url must start with http:// or https://"),
        ("ftp://files.example.com/in", "url must start with http:// or https://"),
        ("https:///services/T0/B0/xyz", "url has no valid host name"),
        ("https://hooks example.com/in", "url has no valid host name"),
        ("https://hooks.example.com:99999/in", "url has a port outside 1-65535"),
        ("https://hooks.example.com/in\\n", "url has spaces or a line break around it"),
        ("https://exa\\tmple.com/in", "url is not a valid URL"),
    ],
)
def test_unusable_urls_are_refused_without_quoting_them(
    tmp_path: Path, url: str, cause: str
) -> None:
    """A URL that is not http(s) with a host is an error at its line; the URL (often a
    credential) is not printed."""
    code, output = check(tmp_path, f'  chat: {{ type: slack, url: "{url}" }}')
    assert code == 1
    assert output.splitlines()[0] == f"routes.yaml:2: channels.chat.url: {cause}"
    assert "example.com" not in output and "T0/B0" not in output


def test_credentials_in_a_url_are_refused_with_the_way_to_pass_them(tmp_path: Path) -> None:
    """`user:pw@` (refused by the HTTP client at every send, so retried forever) is an
    error that says to send them as a header instead, and does not print them."""
    code, output = check(
        tmp_path,
        '  audit: { type: webhook, url: "https://bot:s3cr3t-pw@audit.example.com/events" }\n'
        '  ding: { type: dingtalk, url: "https://user@oapi.dingtalk.com/robot/send" }',
    )
    assert code == 1
    lines = output.splitlines()
    assert lines[0].startswith(
        "routes.yaml:2: channels.audit.url: url carries credentials (user:password@), which "
        "the HTTP client refuses: pass them in a header instead"
    )
    assert 'headers: {Authorization: "Basic ${HOOK_BASIC_AUTH}"}' in lines[0]
    assert lines[1].startswith("routes.yaml:3: channels.ding.url: url carries credentials")
    assert "s3cr3t" not in output


def test_urls_the_client_takes_pass(tmp_path: Path) -> None:
    """http and https with a host, a port, a query, IPv6, IDN; an unset `${VAR:-}` too
    (the channel is then disabled, as before)."""
    code, output = check(
        tmp_path,
        '  a: { type: webhook, url: "http://127.0.0.1:8080/in?x=1" }\n'
        '  b: { type: slack, url: "https://hooks.slack.com/services/T0/B0/xyz" }\n'
        '  c: { type: wecom, url: "http://[::1]:9000/cgi-bin/webhook/send?key=k" }\n'
        '  d: { type: dingtalk, url: "https://münchen.example/robot/send?access_token=t" }\n'
        '  e: { type: slack, url: "${UNSET_SLACK_URL:-}" }\n'
        '  f: { type: webhook, url: "https://audit.example.com/in",'
        ' headers: { Authorization: "Basic Ym90OnB3" } }',
    )
    assert code == 0, output
    assert "channels disabled (URL or key resolved empty): e" in output


def test_a_channel_naming_itself_as_fallback_is_told_so(tmp_path: Path) -> None:
    """`fallback_channel: <itself>` says exactly that, not "undefined fallback_channel"."""
    code, output = check(
        tmp_path,
        "  mail: { type: log, fallback_channel: mail }\n"
        "  chat: { type: log, fallback_channel: pager }",
    )
    assert code == 1
    assert output.splitlines()[:2] == [
        'routes.yaml:2: channel "mail" names itself as its fallback_channel',
        'routes.yaml:3: undefined fallback_channel "pager" of channel "chat"',
    ]


@pytest.mark.parametrize(
    ("settings", "cause"),
    [
        ('from: "signalbox"', "channels.mail.from: not one e-mail address"),
        ('from: "sb@example.com\\r\\nBcc: all@example.com"', "channels.mail.from: not one"),
        ('to: ["oncall@example.com, ops@example.com"]', "channels.mail.to[0]: not one"),
        ('to: ["on call@example.com"]', "channels.mail.to[0]: not one"),
        ("port: 0", "channels.mail.port: Input should be greater than or equal to 1"),
        ("port: 70000", "channels.mail.port: Input should be less than or equal to 65535"),
    ],
)
def test_email_addresses_and_port_are_checked(tmp_path: Path, settings: str, cause: str) -> None:
    """From and every recipient must each be one address as the mail header parser reads
    it (a header line break or a comma list would be sent wrong); the port is 1-65535."""
    fields = {"from": '"sb@example.com"', "to": '["oncall@example.com"]'}
    key = settings.split(":", 1)[0]
    fields[key] = settings.split(":", 1)[1].strip()
    body = ", ".join(f"{k}: {v}" for k, v in fields.items())
    code, output = check(tmp_path, f"  mail: {{ type: email, host: smtp.example.com, {body} }}")
    assert code == 1
    assert output.splitlines()[0].startswith(f"routes.yaml:2: {cause}")


def test_email_with_display_names_and_an_unset_recipient_passes(tmp_path: Path) -> None:
    """`Name <addr>` forms are fine; an unset `${VAR:-}` recipient disables the channel."""
    code, output = check(
        tmp_path,
        "  mail: { type: email, host: smtp.example.com, port: 587, starttls: true,"
        ' from: "Signalbox <sb@example.com>", to: ["On-call <oncall@example.com>"] }\n'
        "  quiet: { type: email, host: smtp.example.com, from: sb@example.com,"
        ' to: ["${UNSET_ONCALL:-}"] }',
    )
    assert code == 0, output
    assert "channels disabled (URL or key resolved empty): quiet" in output


@pytest.mark.parametrize(
    ("headers", "cause"),
    [
        ('{"X-Token": "abc\\r\\nX-Injected: yes"}', "header X-Token: its value holds a line break"),
        ('{"Bad Name": "v"}', "header name 'Bad Name' is not an HTTP token"),
    ],
)
def test_webhook_headers_the_client_would_refuse_are_errors(
    tmp_path: Path, headers: str, cause: str
) -> None:
    """A header the HTTP client refuses at send time (a value with a line break, a name that
    is no token) is an error at check, naming the header but not its secret value."""
    code, output = check(
        tmp_path, f'  hook: {{ type: webhook, url: "https://h.example/in", headers: {headers} }}'
    )
    assert code == 1
    assert cause in output.splitlines()[0]
    assert "X-Injected" not in output
