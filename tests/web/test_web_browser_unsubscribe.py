"""A person unsubscribes in a real browser (Chromium), by keyboard, then undoes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailer.store.models import SubscriberStatus
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 760})  # a phone
            yield context.new_page()
        finally:
            browser.close()


@pytest.mark.browser
def test_unsubscribe_by_keyboard_then_undo(
    page: Any,
    live_server: LiveServer,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    sent: Sent = send_campaign(live_server, database_url, monkeypatch)
    address = "ana@example.com"
    page.goto(sent.unsubscribe_url(address))
    organization = sent.workspace.settings.organization.name
    assert organization in page.locator("header").inner_text()
    assert page.get_by_role("button").count() == 1
    assert sent.status(address) == SubscriberStatus.ACTIVE  # opening the page did nothing

    # As a person with a keyboard: focus the one button and press Enter.
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Unsubscribe")
    assert button.evaluate("el => el === document.activeElement")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    assert sent.status(address) == SubscriberStatus.UNSUBSCRIBED
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.callspec.id
    page.screenshot(path=str(ARTIFACTS / f"web-unsubscribed-{name}.png"), full_page=True)

    with page.expect_navigation():
        page.get_by_role("button", name="Undo: subscribe me again").click()
    page.get_by_role("heading", name="You are subscribed again").wait_for()
    assert sent.status(address) == SubscriberStatus.ACTIVE
    page.screenshot(path=str(ARTIFACTS / f"web-resubscribed-{name}.png"), full_page=True)
