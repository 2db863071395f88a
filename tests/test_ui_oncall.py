"""The on-call parts of the console in real headless Chromium: a silence made from an
event (labels prefilled, live preview), expiring it, acknowledging from the feed and
from a message's link, on a desktop and on a phone."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from browser import PHONE
from oncallkit import fire
from service import serve_app

ROUTES = """\
sources:
  alertmanager: { token: "am-token" }
channels:
  stdout: { type: log }
routes:
  - matchers: ['source="alertmanager"']
    to: [stdout]
"""


def test_a_silence_is_made_from_an_event_previewed_and_expired(page: Page, tmp_path: Path) -> None:
    """Silence… on a feed row opens the form with the alert's labels as matchers and a
    preview naming the event; saved, it quiets the next such alert; Expire ends it."""
    with serve_app(tmp_path, ROUTES) as (client, _):
        first = fire(client, "DiskFull", instance="db1")
        page.goto(f"{client.base_url}/ui")
        page.locator(f"#event-{first} a.silence-link").click()
        matchers = page.locator("#silence-matchers")
        expect(matchers).to_have_value(re.compile('alertname="DiskFull"'))
        expect(matchers).to_have_value(re.compile('instance="db1"'))
        expect(page.locator("#preview")).to_contain_text("Would quiet 1 of the recent events")
        matchers.fill('alertname="DiskFull"\ninstance=~"(("')
        expect(page.locator("#preview .error")).to_contain_text('instance=~"(("')
        matchers.fill('alertname="DiskFull"')
        expect(page.locator(f"#preview [data-event='{first}']")).to_have_count(1)
        page.fill("input[name=created_by]", "alice")
        page.get_by_role("button", name="Silence", exact=True).click()
        row = page.locator("li.silence").first
        expect(row).to_have_attribute("data-state", "active")
        expect(row).to_contain_text('alertname="DiskFull"')
        second = fire(client, "DiskFull", instance="db2")
        page.goto(f"{client.base_url}/ui")
        expect(page.locator(f"#event-{second} .silenced")).to_contain_text("silenced by")
        page.goto(f"{client.base_url}/ui/silences")
        page.locator("li.silence").first.get_by_role("button", name="Expire").click()
        expect(page.locator("li.silence").first).to_have_attribute("data-state", "expired")


def test_trouble_is_acknowledged_from_the_feed(page: Page, tmp_path: Path) -> None:
    """A firing alert's row has an Acknowledge form; sent with a name, the row says who
    has it and offers the form no more."""
    with serve_app(tmp_path, ROUTES) as (client, _):
        event_id = fire(client, "HighLoad")
        page.goto(f"{client.base_url}/ui")
        row = page.locator(f"#event-{event_id}")
        row.locator("input[name=by]").fill("carol")
        row.get_by_role("button", name="Acknowledge").click()
        expect(page.locator(f"#event-{event_id} .acked")).to_contain_text("acknowledged by carol")
        expect(page.locator(f"#event-{event_id} form.ack-form")).to_have_count(0)


def test_on_call_pages_fit_a_phone_and_the_link_page_acknowledges(
    browser: Browser, tmp_path: Path
) -> None:
    """At 390 px the Silences page and a link's page do not scroll sideways; the link's
    form acknowledges without a login."""
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    phone = context.new_page()
    settings = {"api_token": "api-secret", "external_url": "https://sb.example.org"}
    try:
        with serve_app(tmp_path, ROUTES, **settings) as (client, app):
            client.headers["authorization"] = "Bearer api-secret"
            event_id = fire(client, "DiskFull", instance="a-rather-long-host-name-0123456789")
            client.post(
                "/api/silences",
                json={"matchers": ['team="storage"'], "duration": "2h", "created_by": "bob"},
            )
            token = app.state.ctx.bus.links.token(event_id)
            phone.goto(f"{client.base_url}/ui/ack/{token}")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the ack page is {width}px wide"
            phone.fill("input[name=by]", "dave")
            phone.get_by_role("button", name="Acknowledge").click()
            expect(phone.locator(".done")).to_contain_text("Acknowledged by dave")
        context.close()
        context = browser.new_context(
            viewport=PHONE,  # type: ignore[arg-type]
            http_credentials={"username": "", "password": "api-secret"},
        )
        phone = context.new_page()
        with serve_app(tmp_path, ROUTES, **settings) as (client, _):
            phone.goto(f"{client.base_url}/ui/silences")
            expect(phone.locator("li.silence")).to_have_count(1)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"/ui/silences is {width}px wide"
    finally:
        context.close()
