"""The console in a real headless Chromium against the real service on 127.0.0.1."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from browser import PHONE
from fixtures import fixtures_dir
from providers.dingtalk import FakeDingTalk
from providers.webhook import FakeReceiver
from service import serve
from uidata import (
    ALERTS_FIRING,
    DING_ROUTES,
    RUN_FAILED,
    SOURCES,
    chinese_alert,
    dead_delivery,
    post,
    seed_feed,
    seed_history,
)


def test_feed_shows_a_new_event_within_a_second_without_reload(page: Page, tmp_path: Path) -> None:
    """A webhook posted while the feed is open appears at the top within 1 s, same document."""
    with serve(tmp_path) as client:
        post(client, "alertmanager", ALERTS_FIRING, chinese_alert)
        page.goto(f"{client.base_url}/ui")
        expect(page.locator("#live-state")).to_have_attribute("data-live", "on")
        expect(page.locator("#feed > li")).to_have_count(2)
        page.evaluate("window.sameDocument = true")
        post(client, "github", RUN_FAILED)
        stored = time.monotonic()  # the 202 says the event is stored: the clock starts here
        newest = page.locator("#feed > li").first
        expect(newest).to_contain_text("test cloud functions #123 failed on trunk", timeout=1000)
        assert time.monotonic() - stored < 1.0
        expect(newest).to_contain_text("✗ failure")
        expect(newest).to_contain_text("stdout")
        expect(page.locator("#feed > li").nth(1)).to_contain_text("数据库主节点 CPU 温度过高")
        assert page.evaluate("window.sameDocument") is True
        page.close()  # ends the live stream, so the server stops without waiting for it


def test_dead_delivery_is_retried_from_the_page(
    page: Page, tmp_path: Path, fake_dingtalk: FakeDingTalk
) -> None:
    """A delivery killed by a revoked DingTalk token shows its attempt and error; Retry sends it."""
    url = f"{fake_dingtalk.base_url}/robot/send?access_token=revoked"
    with serve(tmp_path, DING_ROUTES.format(url=url)) as client:
        post(client, "github", RUN_FAILED)
        dead_delivery(client)
        page.goto(f"{client.base_url}/ui/deliveries?state=dead")
        row = page.locator("li.delivery").first
        expect(row).to_have_attribute("data-state", "dead")
        expect(row.locator(".attempts li")).to_have_count(1)
        expect(row).to_contain_text("token is not exist")
        fake_dingtalk.robot("revoked")  # the token is valid again: the retry can land
        row.get_by_role("button", name="Retry").click()
        expect(row).to_have_attribute("data-state", "sent", timeout=5000)
        expect(row.locator(".attempts li")).to_have_count(3)  # dead, retry by hand, sent
        assert len(fake_dingtalk.requests) == 2


def test_route_tester_shows_matches_and_the_first_failed_matcher(
    page: Page, tmp_path: Path, fake_dingtalk: FakeDingTalk
) -> None:
    """The config page's tester routes a pasted fixture with the same code as route-test."""
    url = f"{fake_dingtalk.base_url}/robot/send?access_token=t"
    with serve(tmp_path, DING_ROUTES.format(url=url)) as client:
        page.goto(f"{client.base_url}/ui/config")
        expect(page.locator("#config-hash")).to_have_text(client.get("/api/config").json()["hash"])
        page.select_option("select[name=source]", "github")
        page.fill("textarea[name=payload]", (fixtures_dir() / RUN_FAILED).read_text("utf-8"))
        page.fill("textarea[name=headers]", "X-GitHub-Event: workflow_run")
        page.get_by_role("button", name="Test routing").click()
        result = page.locator("#route-result")
        expect(result).to_contain_text("routes 0 → cn-ding")
        expect(result.locator("[data-route='0']")).to_contain_text("✓ matched")
        page.fill("textarea[name=labels]", "status=success")
        page.get_by_role("button", name="Test routing").click()
        expect(result).to_contain_text("no route matched → stdout")
        expect(result.locator("[data-route='0']")).to_contain_text(
            'status="failure" failed: status is success'
        )


def test_every_page_fits_a_phone_screen(browser: Browser, tmp_path: Path) -> None:
    """At 390 px wide no page scrolls sideways, with long titles, ids and Chinese text on it."""
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    phone = context.new_page()
    try:
        with serve(tmp_path) as client:
            seed_feed(client)
            seed_history(client, _now())
            for path in ("/ui", "/ui/pipelines", "/ui/deliveries", "/ui/config"):
                phone.goto(f"{client.base_url}{path}")
                width = phone.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"{path} is {width}px wide"
    finally:
        context.close()


def test_pipelines_board_draws_a_card_per_pipeline(page: Page, tmp_path: Path) -> None:
    """Pipelines get one card each with streak, duration and 24 h / 7 d sparklines in words too."""
    with serve(tmp_path) as client:
        seed_history(client, _now())
        page.goto(f"{client.base_url}/ui/pipelines")
        cards = page.locator("li.card")
        expect(cards).to_have_count(3)
        failing = cards.first
        expect(failing).to_contain_text("构建与测试")
        expect(failing.locator(".facts")).to_contain_text("failure streak3")
        expect(failing.locator("svg.spark")).to_have_count(2)
        expect(failing).to_contain_text("7 d: 68% of 19 runs")


def test_console_asks_for_the_token_and_hides_the_open_banner(
    browser: Browser, tmp_path: Path
) -> None:
    """With SIGNALBOX_API_TOKEN set the browser is challenged; with the token it goes live."""
    with serve(tmp_path, api_token="s3cret") as client:
        refused = client.get("/ui")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Basic realm="signalbox"'
        assert client.get("/api/events").status_code == 401
        assert client.get("/ui", auth=("ops", "s3cret")).status_code == 200
        context = browser.new_context(http_credentials={"username": "ops", "password": "s3cret"})
        try:
            page = context.new_page()
            page.goto(f"{client.base_url}/ui")
            expect(page.locator("#live-state")).to_have_attribute("data-live", "on")
            expect(page.locator(".banner")).to_have_count(0)
            post(client, "github", RUN_FAILED)
            expect(page.locator("#feed > li")).to_have_count(1, timeout=1000)
        finally:
            context.close()


def test_open_console_says_so(page: Page, tmp_path: Path) -> None:
    """Without a token every page carries a visible warning that it is open to anyone."""
    with serve(tmp_path) as client:
        page.goto(f"{client.base_url}/ui/deliveries")
        expect(page.locator(".banner")).to_be_visible()
        expect(page.locator(".banner")).to_contain_text("anyone who can reach")
        assert json.loads(client.get("/api/config").text)["hash"]


def _now() -> datetime:
    return datetime.now(UTC)


def test_each_event_row_tells_what_came_of_it_per_receiver(
    page: Page, tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """A live row settles into its story: sent (linking to the delivery), and a repeat of
    the same news says it was deduplicated by which event."""
    routes = SOURCES.format() + (
        "channels:\n"
        f'  sink: {{ type: webhook, url: "{fake_receiver.base_url}/in" }}\n'
        "routes:\n"
        "  - matchers: ['source=\"alertmanager\"']\n"
        "    to: [sink]\n"
    )
    with serve(tmp_path, routes) as client:
        page.goto(f"{client.base_url}/ui")
        expect(page.locator("#live-state")).to_have_attribute("data-live", "on")
        # Two alerts each time; the feed shows the newest first.
        first = post(client, "alertmanager", ALERTS_FIRING)["event_ids"][-1]
        post(client, "alertmanager", ALERTS_FIRING)
        told = page.locator(f"#event-{first} .outcomes li").first
        expect(told).to_have_attribute("data-outcome", "sent", timeout=10_000)
        expect(told).to_contain_text("sink")
        told.get_by_role("link", name="delivery").click()
        expect(page.locator("li.delivery")).to_have_attribute("data-state", "sent")
        page.goto(f"{client.base_url}/ui")
        repeat = page.locator("#feed > li").first.locator(".outcomes li").first
        expect(repeat).to_have_attribute("data-outcome", "suppressed", timeout=10_000)
        expect(repeat).to_contain_text(f"duplicate of event {first}")
        page.close()
