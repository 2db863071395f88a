"""Shoot docs/screenshots/*.png: the console serving real fixture webhooks (`make screenshots`).

Run as `python tests/screenshots.py`, so tests/ is on the import path like under pytest.

Channels point at the fake providers of tests/providers on 127.0.0.1; the DingTalk robot's
token is revoked, so the critical alert's delivery dies, is retried by hand and dies again.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import Browser, sync_playwright

from browser import DESKTOP, PHONE, launch_args
from fixtures import REPO, fixtures_dir
from providers.dingtalk import FakeDingTalk
from providers.server import ServerThread
from providers.slack import FakeSlack
from providers.wecom import FakeWeCom
from service import alert, alertmanager_body, serve
from uidata import RUN_FAILED, SOURCES, seed_feed, seed_history

OUT = REPO / "docs" / "screenshots"

ROUTES = (
    SOURCES
    + """\
channels:
  ops-slack: {{ type: slack, url: "{slack}" }}
  cn-ding: {{ type: dingtalk, url: "{ding}" }}
  cn-wecom: {{ type: wecom, url: "{wecom}" }}
  console: {{ type: log }}
routes:
  - matchers: ['alertname="DiskFull"']
    to: [console]
    escalate:
      - {{ after: 10m, to: [ops-slack] }}
      - {{ after: 30m, to: [cn-wecom] }}
  - matchers: ['source="alertmanager"', 'severity="critical"']
    to: [cn-ding]
  - matchers: ['kind="pipeline"', 'failure_streak>=2']
    to: [cn-wecom]
  - matchers: ['kind="pipeline"', 'transition=~"broken|fixed"']
    to: [ops-slack]
fallback: [console]
"""
)


def _settle(client: httpx.Client, timeout: float = 30) -> None:
    """Wait until no delivery is pending or failed, so the pages show outcomes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliveries = client.get("/api/deliveries?limit=1000").json()["deliveries"]
        if all(d["state"] not in ("pending", "failed") for d in deliveries):
            return
        time.sleep(0.2)
    raise RuntimeError("deliveries did not settle")


def _kill_and_retry_once(client: httpx.Client) -> None:
    dead = client.get("/api/deliveries?state=dead").json()["deliveries"]
    for delivery in dead:
        client.post(f"/api/deliveries/{delivery['id']}/retry").raise_for_status()
    _settle(client)


def _shoot(browser: Browser, base: str, name: str, path: str, viewport: dict[str, int]) -> None:
    context = browser.new_context(viewport=viewport, device_scale_factor=1)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{base}{path}")
    if path == "/ui/config":
        page.fill("textarea[name=payload]", (fixtures_dir() / RUN_FAILED).read_text("utf-8"))
        page.fill("textarea[name=headers]", "X-GitHub-Event: workflow_run")
        page.fill("textarea[name=labels]", "failure_streak=2")
        page.get_by_role("button", name="Test routing").click()
        page.locator("#route-result .trace").wait_for()
    if path == "/ui":
        page.locator("#live-state[data-live=on]").wait_for()
    # The feed is long: its first screenful says it all.
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=path != "/ui")
    context.close()


def _oncall(browser: Browser, client: httpx.Client) -> None:
    """The Silences page opened from an alert, and an acknowledged alert's feed row."""
    auth = {"authorization": "Bearer am-token"}

    def fire(**labels: str) -> str:
        body = alertmanager_body(alert("DiskFull", **labels))
        answer = client.post("/hooks/alertmanager", json=body, headers=auth)
        return str(answer.json()["event_ids"][0])

    acked = fire(cluster="prod-eu", instance="db-1", severity="warning")
    client.post("/api/acks", json={"event_id": acked, "by": "alice", "comment": "resizing"})
    client.post(
        "/api/silences",
        json={
            "matchers": ['project="acme/legacy-batch"'],
            "duration": "4h",
            "created_by": "bob",
            "comment": "batch cluster rebuild",
        },
    ).raise_for_status()
    other = fire(cluster="prod-us", instance="db-7", severity="warning")
    _settle(client)
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{client.base_url}/ui/silences?event={other}")
    page.fill("input[name=created_by]", "bob")
    page.locator("#preview .preview-events").wait_for()
    page.screenshot(path=str(OUT / "silences.png"), full_page=True)
    page.goto(f"{client.base_url}/ui")
    page.locator(f"#event-{acked}").screenshot(path=str(OUT / "acknowledged.png"))
    context.close()


def main() -> None:
    fakes = {"slack": FakeSlack(), "ding": FakeDingTalk(), "wecom": FakeWeCom()}
    threads = [ServerThread(app) for app in fakes.values()]
    for thread in threads:
        thread.start()
    slack, ding, wecom = fakes["slack"], fakes["ding"], fakes["wecom"]
    assert isinstance(slack, FakeSlack) and isinstance(wecom, FakeWeCom)
    slack.per_minute = wecom.per_minute = 1000
    routes = ROUTES.format(
        slack=slack.base_url + slack.hook_path(),
        ding=f"{ding.base_url}/robot/send?access_token=revoked",
        wecom=wecom.base_url + wecom.robot("k"),
    )
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), routes) as client:
            seed_history(client, datetime.now(UTC))
            seed_feed(client)
            _settle(client)
            _kill_and_retry_once(client)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(**launch_args())  # type: ignore[arg-type]
                base = str(client.base_url)
                for name, path in [
                    ("feed", "/ui"),
                    ("pipelines", "/ui/pipelines"),
                    ("deliveries-dead", "/ui/deliveries?state=dead"),
                    ("config", "/ui/config"),
                ]:
                    _shoot(browser, base, name, path, DESKTOP)
                _shoot(browser, base, "feed-phone", "/ui", PHONE)
                _shoot(browser, base, "pipelines-phone", "/ui/pipelines", PHONE)
                _oncall(browser, client)
                browser.close()
    finally:
        for thread in threads:
            thread.stop()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
