"""Ops-written templates render in killable worker processes, within time, memory and size."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import jinja2
import pytest
from pydantic import ValidationError

from app.bus.target import Target
from busharness import accept, alerts, deliveries, running_bus, wait_for
from channels import sandbox
from channels.base import TemplateFailed
from channels.log import LogChannel, LogConfig
from channels.templating import compile_template
from channels.webhook import WebhookChannel, WebhookConfig
from providers.sample import notification, pipeline_event
from providers.webhook import FakeReceiver
from stores import SqliteBackend

LOOPING = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
# Generous: the worker may be starting up (a Python interpreter) on a busy machine.
STOPPED_WITHIN = sandbox.RENDER_WALL_SECONDS + 10.0


def _ops(template: str) -> LogChannel:
    return LogChannel("ops-log", LogConfig(template=template))


async def test_a_looping_template_is_stopped_while_the_loop_goes_on(
    fake_receiver: FakeReceiver,
) -> None:
    """While a template that would loop for hours is stopped, the event loop keeps ticking
    and another delivery goes out; the looping one fails with TemplateFailed."""
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    webhook = WebhookChannel("audit", WebhookConfig(url=f"{fake_receiver.base_url}/e"))
    started = time.monotonic()
    bad = asyncio.create_task(_ops(LOOPING).render(notification(pipeline_event(1))))
    await asyncio.sleep(0.2)
    for message in await webhook.render(notification(pipeline_event(2))):
        await webhook.send(message)
    sent_at = time.monotonic()
    with pytest.raises(
        TemplateFailed,
        match=r"template of channel 'ops-log' stopped after 2s of CPU time: it took too long",
    ):
        await bad
    failed_at = time.monotonic()
    ticker.cancel()
    await webhook.aclose()
    assert len(fake_receiver.requests) == 1 and sent_at < failed_at
    assert failed_at - started < STOPPED_WITHIN
    during = [t for t in ticks if started <= t <= failed_at]
    # Ticking every 10 ms: no gap longer than a fraction of a second.
    assert max(b - a for a, b in itertools.pairwise(during)) < 0.5


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ 'x' * 10 ** 11 }}", "needed too much memory"),
        (
            "{% for a in range(99999) %}{% for b in range(9999) %}xxxxxxxx{% endfor %}{% endfor %}",
            "produced more than 4 MiB of text",
        ),
        ("{{ events[0].title }}{{ 1 / 0 }}", "failed: ZeroDivisionError"),
    ],
)
async def test_exploding_templates_fail_their_delivery_with_the_reason(
    template: str, reason: str
) -> None:
    """Memory, output size and errors each fail the render with a PermanentError that says
    which; the next render through the same workers works."""
    with pytest.raises(TemplateFailed, match=reason):
        await _ops(template).render(notification(pipeline_event(1)))
    [message] = await _ops("still {{ events | length }}").render(notification(pipeline_event(1)))
    assert message.text == "still 1"


def test_compiling_an_ops_template_evaluates_nothing() -> None:
    """Validating routes.yaml compiles a template without folding its constants (Jinja
    would build these 500 MB strings into the module), and refuses autoescape blocks, which
    would be evaluated and change nothing."""
    started = time.monotonic()
    compile_template("{{ 'x' * 5 * 10 ** 8 }}{{ 'y' | center(5 * 10 ** 8) }}")
    assert time.monotonic() - started < 1.0
    with pytest.raises(jinja2.TemplateSyntaxError, match="autoescape"):
        compile_template("ok\n{% autoescape false %}{{ title }}{% endautoescape %}")
    with pytest.raises(ValidationError, match="template line 2"):
        LogConfig(template="ok\n{% autoescape false %}{% endautoescape %}")


async def test_a_looping_route_template_kills_only_its_delivery(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """On the bus, the delivery whose route template loops goes dead and to its fallback
    channel, while another route's delivery of the same event is sent meanwhile."""
    url = f"{fake_receiver.base_url}/hooks"
    channels = {
        "ops-hook": {"type": "webhook", "url": f"{url}/ops", "fallback_channel": "spare"},
        "spare": {"type": "webhook", "url": f"{url}/spare"},
        "team": {"type": "webhook", "url": f"{url}/team"},
    }
    async with running_bus(SqliteBackend(tmp_path / "data"), channels) as (bus, store):
        await accept(
            bus,
            store,
            alerts(1),
            Target(route="0", receiver="ops-hook", template=LOOPING),
            Target(route="1", receiver="team"),
        )
        await wait_for(lambda: len(fake_receiver.requests) >= 1, within=STOPPED_WITHIN)
        assert [r.path for r in fake_receiver.requests] == ["/hooks/team"]
        await wait_for(lambda: len(fake_receiver.requests) >= 2, within=STOPPED_WITHIN)
        [dead] = await deliveries(store, "dead")
    assert dead.receiver == "ops-hook" and "route's template stopped after 2s" in str(
        dead.last_error
    )
    assert [r.path for r in fake_receiver.requests] == ["/hooks/team", "/hooks/spare"]
