"""Headless Debian Chromium driven by Playwright, for the console's browser tests.

Playwright's own browser download cannot run here, so it drives the system's
/usr/bin/chromium (installed by `make test`). Playwright gives each launch a fresh,
empty profile directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Root needs --no-sandbox; the rest keep Chromium from calling out of this closed machine.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def launch_args() -> dict[str, object]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail("no /usr/bin/chromium: run `make test`, which installs it")
    return {"executable_path": str(CHROMIUM), "args": FLAGS, "headless": True}


# Module scope, not session: while Playwright's sync API runs it holds an asyncio loop in
# this thread, and async tests in later modules could not start their own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(**launch_args())  # type: ignore[arg-type]
        yield launched
        launched.close()


def csp_refusals(page: Page) -> list[str]:
    """What the page's Content-Security-Policy refused, as Chromium reports it, from now on."""
    refused: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", seen)
    return refused


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A desktop page; the test fails if the console breaks its own Content-Security-Policy."""
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    opened = context.new_page()
    refused = csp_refusals(opened)
    yield opened
    # Closing first ends the page's live stream, so the server can stop without waiting.
    context.close()
    assert refused == [], "the console broke its Content-Security-Policy"
