"""Every template in force is rendered on sample events at check time and at every reload."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.events import KINDS, SOURCES
from app.routing.config import ConfigInvalid, load_config, parse_config
from app.routing.reload import ConfigHolder
from app.samples import sample_events, sample_notifications
from process import free_port, signalbox
from service import serve, wait_until

REPO = Path(__file__).resolve().parent.parent

VALID = "channels: { log: { type: log } }\nroutes: [{ to: [log] }]\n"
# Compiles, fails at every render.
DIVIDES_BY_ZERO = """channels: { log: { type: log } }
routes:
  - matchers: ['kind="pipeline"']
    to: [log]
    template: "{{ 1 // 0 }}"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config(text.encode(), "routes.yaml", env={})
    return [str(e) for e in raised.value.errors]


def test_check_renders_route_and_channel_templates(tmp_path: Path) -> None:
    """`signalbox check` fails on `{{ 1 // 0 }}` in a route and in a channel, naming each,
    the template's line and the exception."""
    path = tmp_path / "routes.yaml"
    path.write_text(
        DIVIDES_BY_ZERO.replace(
            "{ log: { type: log } }", "{ log: { type: log, template: '{{ 2 // 0 }}' } }"
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.output.replace(str(path), "routes.yaml").splitlines()
    assert lines[0].startswith('routes.yaml:1: channel "log": its template fails on sample "')
    assert lines[1].startswith('routes.yaml:5: route 0: template fails for receiver "log" on')
    assert all("ZeroDivisionError" in line for line in lines[:2])


def test_a_template_failing_on_one_kind_of_event_only_is_found() -> None:
    """Templates that break only on an alert group, a digest, a fallback, Chinese text or
    one receiver are each caught, with the sample they broke on."""
    cases = {
        "{{ 1 // (group_labels | length - 2) }}": "Alertmanager alerts grouped",
        "{{ 100 // (folded - 12) }}": "rate-limit digest",
        "{% if is_fallback %}{{ 1 // 0 }}{% endif %}": "fallback delivery",
        "{{ events[0].title.encode('ascii') }}": "Chinese title",
        "{% if channel == 'mail' %}{{ 1 // 0 }}{% endif %}": 'receiver "mail"',
    }
    for template, sample in cases.items():
        [error] = errors_of(
            f"""channels:
  log: {{ type: log }}
  mail: {{ type: email, host: smtp.example.com, from: sb@example.com, to: [a@example.com] }}
routes:
  - to: [log, mail]
    template: "{template}"
"""
        )
        assert error.startswith("routes.yaml:6: route 0: template fails for receiver"), error
        assert sample in error, (template, error)


def test_inherited_route_template_names_where_it_was_written() -> None:
    """A child inheriting a parent's failing template is reported at the parent's line,
    saying which child inherits it."""
    [error] = errors_of(
        """channels: { log: { type: log }, other: { type: log } }
routes:
  - matchers: ['kind="pipeline"']
    to: []
    template: "{% if channel == 'other' %}{{ 1 // 0 }}{% endif %}"
    routes:
      - { matchers: ['status="failure"'], to: [other] }
"""
    )
    assert error.startswith(
        'routes.yaml:5: route 0 (inherited by 0.0): template fails for receiver "other"'
    )


def test_the_repository_files_render_cleanly() -> None:
    """routes.yaml and deploy/routes.yaml pass with every channel's default templates."""
    for path in (REPO / "routes.yaml", REPO / "deploy" / "routes.yaml"):
        assert load_config(path, env={}).routes()


def test_samples_cover_every_source_kind_and_shape() -> None:
    """Samples hold every source and kind, firing and resolved alerts, broken, still
    failing and fixed pipelines, Chinese text; notifications add groups with group
    labels, a digest with a folded count and a fallback."""
    events = list(sample_events().values())
    assert {e.labels["source"] for e in events} == set(SOURCES)
    assert {e.labels["kind"] for e in events} == set(KINDS)
    assert {"firing", "resolved"} <= {e.labels["status"] for e in events}
    transitions = {e.labels.get("transition") for e in events}
    assert {"broken", "still_failing", "fixed"} <= transitions
    assert any("数据库" in e.title for e in events) and any("测试" in e.title for e in events)
    notifications = [s.notification for s in sample_notifications("ops")]
    assert all(n.receiver == "ops" for n in notifications)
    assert any(n.folded > 0 for n in notifications)
    assert any(n.is_fallback for n in notifications)
    assert any(n.group_labels and len(n.events) > 1 for n in notifications)


def test_post_reload_rejects_a_failing_template(tmp_path: Path) -> None:
    """POST /-/reload answers 400 naming the route and line; the rules in force stay."""
    (tmp_path / "routes.yaml").write_text(VALID, encoding="utf-8")
    with serve(tmp_path) as client:
        before = client.get("/api/config").json()["hash"]
        (tmp_path / "routes.yaml").write_text(DIVIDES_BY_ZERO, encoding="utf-8")
        answer = client.post("/-/reload")
        assert answer.status_code == 400
        assert answer.json()["detail"] == (
            f"{tmp_path / 'routes.yaml'}:5: route 0: template fails on a sample event "
            "(ZeroDivisionError)"
        )
        assert client.get("/api/config").json()["hash"] == before


async def test_file_watcher_rejects_a_failing_template(tmp_path: Path) -> None:
    """An edit seen by the watcher with a failing template is rejected like any bad edit."""
    path = tmp_path / "routes.yaml"
    path.write_text(VALID, encoding="utf-8")
    holder = ConfigHolder(path)
    stop = asyncio.Event()
    task = asyncio.create_task(holder.watch(stop))
    try:
        await asyncio.sleep(0.3)
        path.write_text(DIVIDES_BY_ZERO, encoding="utf-8")
        deadline = time.monotonic() + 5
        while holder.last_error is None:
            assert time.monotonic() < deadline, "the edit was not seen"
            await asyncio.sleep(0.05)
        assert "route 0: template fails on a sample event (ZeroDivisionError)" in holder.last_error
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


def test_sighup_rejects_a_failing_template(tmp_path: Path) -> None:
    """`kill -HUP` on the real server with a failing template: rejected, old rules stay."""
    (tmp_path / "routes.yaml").write_text(VALID, encoding="utf-8")
    port = free_port()
    with signalbox(tmp_path, port, env={"SIGNALBOX_WATCH_CONFIG": "false"}) as proc:
        url = f"http://127.0.0.1:{port}/api/config"
        before = httpx.get(url).json()["hash"]
        (tmp_path / "routes.yaml").write_text(DIVIDES_BY_ZERO, encoding="utf-8")
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(lambda: httpx.get(url).json()["last_error"])
        state = httpx.get(url).json()
    assert "template fails on a sample event (ZeroDivisionError)" in state["last_error"]
    assert state["hash"] == before


def test_a_looping_template_is_stopped_and_rejected_at_check() -> None:
    """A route template looping for hours is stopped by the render limits and rejects the
    file, instead of hanging `check` or the reload that met it."""
    looping = DIVIDES_BY_ZERO.replace(
        "{{ 1 // 0 }}",
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    )
    [error] = errors_of(looping)
    assert error.startswith("routes.yaml:5: route 0: template fails for receiver")
    assert "took too long" in error
