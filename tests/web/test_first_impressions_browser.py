"""Issue 19 in a real browser (Debian's Chromium) at phone width, 375 px: the public pages a
reader sees first. Screenshots go to test-artifacts/ to be looked at."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({red}, {green}, {blue})"


@pytest.mark.browser
def test_public_pages_at_phone_width(
    sent: Sent, live_server: LiveServer, chromium_path: str
) -> None:
    """Items 2-5 at 375 px: the card keeps a margin, nothing scrolls sideways, links wear the
    clinic's colour, the front page is the archive with a subscribe link, and a typo in the
    address gets "Did you mean ...?"."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    brand = _rgb(sent.workspace.settings.organization.brand_color)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740})
            page.goto(f"{live_server.url}/")
            assert page.url == f"{live_server.url}/archive"
            page.screenshot(path=str(ARTIFACTS / "archive-375.png"), full_page=True)
            card = page.locator("main").bounding_box()
            assert card is not None and card["x"] >= 8 and card["x"] + card["width"] <= 367
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            subscribe = page.get_by_role("navigation").get_by_role("link", name="Subscribe")
            assert subscribe.is_visible()

            page.get_by_role("link", name="Sleep position and neck pain").click()
            page.screenshot(path=str(ARTIFACTS / "archive-issue-375.png"), full_page=True)
            assert page.get_by_role("link", name="Subscribe to the newsletter").is_visible()
            assert page.get_by_text("Unsubscribe").count() == 0

            page.goto(f"{live_server.url}/subscribe")
            link_colour = page.locator("nav a").first.evaluate("a => getComputedStyle(a).color")
            assert link_colour == "rgb(255, 255, 255)"  # white on the brand-coloured bar
            page.get_by_label("Email address").fill("maria@hotmial.com")
            page.get_by_label("Yes, send me").check()
            page.get_by_role("button", name="Subscribe").click()
            suggestion = page.get_by_role("button", name="Yes, use maria@hotmail.com")
            assert suggestion.is_visible()
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.screenshot(path=str(ARTIFACTS / "signup-typo-375.png"), full_page=True)
            assert suggestion.evaluate("b => getComputedStyle(b).backgroundColor") == brand
            suggestion.click()
            assert page.get_by_role("heading", name="Check your inbox").is_visible()
        finally:
            browser.close()
