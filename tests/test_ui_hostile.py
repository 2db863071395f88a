"""Hostile payloads and hostile web pages against the console, in a real headless Chromium.

The "other web page" is served by Playwright at http://evil.test (a page of our own HTML,
a different origin from the service); what it sends goes over the network to the real
service on 127.0.0.1 like any cross-site request a user's browser would make.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Dialog, Page, Route, expect

from app.web.headers import CONTENT_SECURITY_POLICY
from browser import csp_refusals
from fixtures import load
from providers.dingtalk import FakeDingTalk
from service import serve
from uidata import (
    ALERTS_FIRING,
    DING_ROUTES,
    JENKINS_DONE,
    PIPELINE_SUCCEEDED,
    RUN_FAILED,
    RUN_SUCCEEDED,
    Reshape,
    dead_delivery,
    post,
)

SCRIPT_URL = "javascript:alert(document.domain)"
EVIL = "http://evil.test"
# No source authenticated, as the example routes.yaml leaves Jenkins and Alertmanager.
OPEN_SOURCES = """\
channels:
  stdout: { type: log }
fallback: [stdout]
"""


def _alert_urls(url: str) -> Reshape:
    def reshape(payload: Any) -> None:
        for alert in payload["alerts"]:
            alert["generatorURL"] = url

    return reshape


def _field(path: tuple[str, ...], url: str) -> Reshape:
    def reshape(payload: Any) -> None:
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = url

    return reshape


def _links(page: Page) -> list[str]:
    """The scheme of every link on the page, as the browser parsed it."""
    protocols: list[str] = page.evaluate(
        "[...document.querySelectorAll('a[href]')].map(a => a.protocol)"
    )
    return protocols


def _click_titles(page: Page) -> None:
    """Click every title that is not an http(s) link: a script URL would run now."""
    titles = page.locator(".event-title, .routed h3, .card-title")
    for title in titles.filter(has_not=page.locator("a[href^='http']")).all():
        title.click()


def test_javascript_urls_from_payloads_never_become_links(page: Page, tmp_path: Path) -> None:
    """javascript: URLs in real Alertmanager, Jenkins, GitHub and GitLab payloads are shown as
    text in the feed, in a row arriving live, on the board and in the route tester: no
    javascript: link anywhere and no dialog, while an https URL stays a link."""
    dialogs: list[str] = []

    def opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", opened)
    with serve(tmp_path) as client:
        post(client, "alertmanager", ALERTS_FIRING, _alert_urls(SCRIPT_URL))
        post(client, "jenkins", JENKINS_DONE, _field(("build", "full_url"), "JaVaScRiPt:alert(1)"))
        github = _field(("workflow_run", "html_url"), "java\tscript:alert(document.domain)")
        post(client, "github", RUN_SUCCEEDED, github)
        gitlab = _field(("object_attributes", "url"), " javascript:alert(document.domain)")
        post(client, "gitlab", PIPELINE_SUCCEEDED, gitlab)
        page.goto(f"{client.base_url}/ui")
        expect(page.locator("#live-state")).to_have_attribute("data-live", "on")
        expect(page.locator("#feed > li")).to_have_count(5)
        assert set(_links(page)) <= {"http:"}  # the console's own tabs
        expect(page.locator("#feed")).to_contain_text(SCRIPT_URL)  # shown, as text
        _click_titles(page)

        post(client, "github", RUN_FAILED, _field(("workflow_run", "html_url"), SCRIPT_URL))
        live_row = page.locator("#feed > li").first
        expect(live_row).to_contain_text("test cloud functions #123 failed")
        expect(live_row.locator("a")).to_have_count(0)
        _click_titles(page)
        post(client, "github", RUN_FAILED)  # its real https URL: a link, as before
        expect(
            page.locator("#feed > li").first.locator("a[href^='https://github.com/']")
        ).to_have_count(1)
        assert set(_links(page)) <= {"http:", "https:"}

        page.goto(f"{client.base_url}/ui/pipelines")
        expect(page.locator("li.card")).to_have_count(4)
        assert set(_links(page)) <= {"http:", "https:"}
        _click_titles(page)

        page.goto(f"{client.base_url}/ui/config")
        payload = load(RUN_FAILED).payload
        payload["workflow_run"]["html_url"] = SCRIPT_URL
        page.fill("textarea[name=payload]", json.dumps(payload))
        page.fill("textarea[name=headers]", "X-GitHub-Event: workflow_run")
        page.get_by_role("button", name="Test routing").click()
        expect(page.locator("#route-result")).to_contain_text("test cloud functions")
        expect(page.locator("#route-result a")).to_have_count(0)
        _click_titles(page)
        page.wait_for_timeout(200)  # a dialog from a click would have opened by now
    assert dialogs == []


def _evil_page(page: Page, html: str) -> None:
    """Serve `html` as http://evil.test/ in this page's browser and open it."""

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=html)

    page.route(f"{EVIL}/**", fulfil)
    page.goto(f"{EVIL}/")


def _form(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f"<input type='hidden' name='{name}' value='{value}'>" for name, value in fields.items()
    )
    return f"<form method='post' action='{action}'>{inputs}</form>"


def test_a_web_page_cannot_post_events_to_open_sources(page: Page, tmp_path: Path) -> None:
    """A cross-site HTML form posting a real payload to open Jenkins and Alertmanager sources
    is refused with 415; nothing is stored; a JSON post still is."""
    with serve(tmp_path, OPEN_SOURCES) as client:
        for source, name in (("jenkins", JENKINS_DONE), ("alertmanager", ALERTS_FIRING)):
            body = load(name).body.decode()
            escaped = body.replace("&", "&amp;").replace("'", "&#39;")
            _evil_page(page, _form(f"{client.base_url}/hooks/{source}", {"payload": escaped}))
            with page.expect_navigation() as answer:
                page.evaluate("document.forms[0].submit()")
            response = answer.value
            assert response is not None and response.status == 415, source
        assert client.get("/api/events").json()["events"] == []
        sent = load(JENKINS_DONE)
        assert (
            client.post(
                "/hooks/jenkins", content=sent.body, headers={"content-type": "application/json"}
            ).status_code
            == 202
        )


def _forgeries(base: str, delivery_id: str) -> str:
    """A form to every state-changing console and API action.

    Forms, not fetch(): Chromium's Private Network Access already stops a public page's
    fetch() to a loopback address, but not a top-level form navigation.
    """
    return "".join(
        _form(f"{base}{path}", {"payload": "{}", "source": "github"})
        for path in (
            "/-/reload",
            f"/api/deliveries/{delivery_id}/retry",
            f"/ui/deliveries/{delivery_id}/retry",
            "/ui/config/route-test",
        )
    )


def test_a_web_page_cannot_forge_console_actions(
    browser: Browser, tmp_path: Path, fake_dingtalk: FakeDingTalk
) -> None:
    """With the token cached in the browser, forms from another origin to reload, retry (API
    and console) and the route tester are refused 403, and nothing changes."""
    # A token of its own: the fake keeps the robots earlier tests made valid.
    url = f"{fake_dingtalk.base_url}/robot/send?access_token=revoked-forged"
    routes = DING_ROUTES.format(url=url)
    with serve(tmp_path, routes, api_token="s3cret") as client:
        auth = httpx.BasicAuth("ops", "s3cret")
        client.auth = auth
        post(client, "github", RUN_FAILED)
        delivery_id = dead_delivery(client)
        fake_dingtalk.robot("revoked-forged")  # a retry would now be sent: none must be
        config_hash = client.get("/api/config").json()["hash"]
        (tmp_path / "routes.yaml").write_text(routes + "# edited\n", encoding="utf-8")

        context = browser.new_context(http_credentials={"username": "ops", "password": "s3cret"})
        try:
            page = context.new_page()
            page.goto(f"{client.base_url}/ui")  # the user has the console open: creds cached
            _evil_page(page, _forgeries(str(client.base_url), delivery_id))
            for index in range(4):
                with page.expect_navigation() as answer:
                    page.evaluate(f"document.forms[{index}].submit()")
                response = answer.value
                assert response is not None and response.status == 403, index
                page.go_back()
        finally:
            context.close()
        assert client.get("/api/config").json()["hash"] == config_hash
        states = client.get("/api/deliveries?state=dead").json()["deliveries"]
        assert [d["id"] for d in states] == [delivery_id]
        assert len(fake_dingtalk.requests) == 1


def test_the_content_security_policy_holds_and_the_console_keeps_to_it(
    browser: Browser, tmp_path: Path
) -> None:
    """Every console page and API answer carries the policy; markup that would run inline
    script is refused and reported (the console's own browser tests fail on any report)."""
    with serve(tmp_path) as client:
        for path in ("/ui", "/ui/pipelines", "/ui/deliveries", "/ui/config", "/api/events"):
            headers = client.get(path).headers
            assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin"
        context = browser.new_context()
        try:
            page = context.new_page()
            refused = csp_refusals(page)
            page.goto(f"{client.base_url}/ui")
            expect(page.locator("#live-state")).to_have_attribute("data-live", "on")
            post(client, "github", RUN_FAILED)
            expect(page.locator("#feed > li")).to_have_count(1)
            assert refused == []
            # htmx's indicator stylesheet is off: no style the policy did not let in.
            assert page.evaluate("document.adoptedStyleSheets.length") == 0
            page.evaluate(
                "document.body.insertAdjacentHTML("
                "'beforeend', '<img src=x onerror=\"window.ran = 1\">');"
                "const s = document.createElement('script'); s.textContent = 'window.ran = 2';"
                "document.body.append(s);"
            )
            page.wait_for_timeout(300)
            assert page.evaluate("window.ran") is None
            assert len(refused) == 2, refused
        finally:
            context.close()
