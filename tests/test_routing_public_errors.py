"""Config errors shown by the API and the console quote nothing from the file.

routes.yaml may be a symlink to any file on the machine; `GET /api/config`, `POST
/-/reload` and the console page say file:line and the kind of problem, while
`signalbox check` and the server log, which are the file owner's, keep the details.
"""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from service import serve

# Each line looks like a secret and breaks the file in a different way, so every kind of
# error message that used to quote the file gets a chance to quote it.
SECRET_LINES = """\
channels:
  hook: { type: webhook, url: "https://hooks.example.com/in" }
  sk_live_51HcRkQmPzT0pSecretKey: { type: log }
routes:
  - to: [ghp_R2d2C3poXwingSecretToken0123456789]
  - matchers: ['token=~"AKIAIOSFODNN7EXAMPLE(("']
    to: [hook]
  - to: [hook]
    group_wait: "hunter2-db-password"
    template: "{{ 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }"
aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
password: &pw hunter2-db-password
"""
SECRETS = [
    "sk_live_51HcRkQmPzT0pSecretKey",
    "ghp_R2d2C3poXwingSecretToken0123456789",
    "AKIAIOSFODNN7EXAMPLE",
    "hunter2",
    "wJalrXUtnFEMI",
    "aws_secret_access_key",
]


def shown_by_the_service(tmp_path: Path, content_path: Path | None, text: str = "") -> list[str]:
    """Start on a valid file, swap in the bad one, return what the reload's 400, GET
    /api/config and the console page say about it (the page: only what the bad file
    added to it), with the file's own path taken out."""
    with serve(tmp_path) as client:
        before = words_in(client.get("/ui/config").text)
        config = tmp_path / "routes.yaml"
        config.unlink()
        if content_path is not None:
            config.symlink_to(content_path)
        else:
            config.write_text(text, encoding="utf-8")
        reload = client.post("/-/reload")
        assert reload.status_code == 400
        state = client.get("/api/config").json()
        page = html.unescape(client.get("/ui/config").text)
    assert state["last_error"] == reload.json()["detail"]
    added = " ".join(sorted(words_in(page) - before))
    return [t.replace(str(config), "routes.yaml") for t in (reload.json()["detail"], added)]


def words_in(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", text))


@pytest.mark.parametrize("target", ["/proc/meminfo", "/etc/passwd"])
def test_symlink_to_a_system_file_shows_no_line_of_it(tmp_path: Path, target: str) -> None:
    """routes.yaml → a system file: the API and console say where and what kind of problem,
    and not one word of the file (meminfo's keys used to be listed as unknown keys)."""
    detail, page_added = shown_by_the_service(tmp_path, Path(target))
    assert detail.splitlines()[0] in (
        "routes.yaml:1: unknown key in the file",
        "routes.yaml:1: the file must be a mapping (sources:, ...)",
    )
    ours = words_in("routes.yaml unknown key in the file must be a mapping sources")
    file_words = words_in(Path(target).read_text(errors="replace")) - ours
    assert not file_words & words_in(detail)
    assert not file_words & words_in(page_added)


def test_secret_looking_lines_stay_out_of_api_and_console(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unknown keys, undefined channels, a bad regex, a bad duration and a template syntax
    error are each reported by line and kind, never with the file's text; the server log
    (the owner's) still has the details."""
    caplog.set_level(logging.ERROR, logger="app.routing.reload")
    detail, page = shown_by_the_service(tmp_path, None, SECRET_LINES)
    where = "routes.yaml"
    assert detail.splitlines() == [
        f"{where}:5: undefined channel in route 0",
        f"{where}:6: route 1: matchers[0]: invalid matcher: invalid regex "
        "(RE2 syntax, as in Alertmanager: no backreferences or lookaround)",
        f"{where}:9: route 2: group_wait: invalid value",
        f"{where}:10: route 2: template: template syntax error at template line 1",
        f"{where}:11: unknown key in the file",
        f"{where}:12: unknown key in the file",
    ]
    for secret in SECRETS:
        for text in (detail, page):
            assert secret not in text
    logged = caplog.text
    assert "ghp_R2d2C3poXwingSecretToken0123456789" in logged
    assert '"aws_secret_access_key"' in logged


def test_check_keeps_the_details_for_the_owner(tmp_path: Path) -> None:
    """`signalbox check` (run by whoever can read the file) still names what is wrong."""
    path = tmp_path / "routes.yaml"
    path.write_text(SECRET_LINES, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert f'{path}:5: undefined channel "ghp_R2d2C3poXwingSecretToken0123456789"' in result.output
    assert 'invalid duration "hunter2-db-password"' in result.output


def test_api_token_protected_reload_answers_the_same(tmp_path: Path) -> None:
    """With an API token the 400 of POST /-/reload is as discreet as without."""
    (tmp_path / "routes.yaml").write_text(
        "channels: { log: { type: log } }\nroutes: [{ to: [log] }]\n", encoding="utf-8"
    )
    with serve(tmp_path, api_token="t0ken") as client:
        (tmp_path / "routes.yaml").write_text(SECRET_LINES, encoding="utf-8")
        answer = client.post("/-/reload", headers={"authorization": "Bearer t0ken"})
        assert answer.status_code == 400
        assert not any(secret in answer.text for secret in SECRETS)
        assert client.post("/-/reload").status_code == 401
