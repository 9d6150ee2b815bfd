"""Signup in a real browser (Chromium) on a phone-sized screen: form, inbox, the confirmation
page and its button."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer.workspace import Workspace
from tests.web_server import LiveServer, serve

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BASE = "https://news.summitspine.example"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONSENT = (
    "Yes, send me the Summit Upper Cervical Chiropractic newsletter. I can unsubscribe at any time."
)


@pytest.fixture
def server(
    workspace: Workspace, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    monkeypatch.setenv("MAILER_WEB__BASE_URL", BASE)
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    yield from serve(workspace)


def confirmation_email(outbox: Path, timeout: float = 10) -> tuple[str, str]:
    """The /confirm/ link and the HTML part of the one confirmation email in the outbox."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list((outbox / "signup-confirm").glob("*.eml"))
        if files:
            message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
            body, html = message.get_body(("plain",)), message.get_body(("html",))
            assert body is not None and html is not None
            found = re.search(re.escape(BASE) + r"/confirm/\S+", body.get_content())  # type: ignore[attr-defined]
            assert found, "no confirmation link in the email"
            return found.group(0), html.get_content()  # type: ignore[attr-defined]
        time.sleep(0.05)
    raise AssertionError("no confirmation email in the outbox")


def no_horizontal_scroll(page: object) -> bool:
    return bool(
        page.evaluate(  # type: ignore[attr-defined]
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
    )


@pytest.mark.browser
def test_person_signs_up_and_confirms_on_a_phone(server: LiveServer, chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740})
            page.goto(f"{server.url}/subscribe")
            expect(page.get_by_role("heading", level=1)).to_contain_text("newsletter")
            assert no_horizontal_scroll(page)

            email = page.get_by_label("Email address")
            email.click()
            email.press_sequentially("maria.lopez@example.com")
            page.get_by_label("First name").press_sequentially("Maria")
            # Tab goes from the name straight to the checkbox: the honeypot is out of reach.
            page.keyboard.press("Tab")
            expect(page.get_by_label(CONSENT)).to_be_focused()
            # The honeypot's wrapper is a clipped 1 px box: nothing of it shows.
            box = page.locator("#homepage").locator("xpath=..").bounding_box()
            assert box is None or (box["width"] <= 1 and box["height"] <= 1)
            page.keyboard.press("Space")
            expect(page.get_by_label(CONSENT)).to_be_checked()
            page.screenshot(path=str(ARTIFACTS / "signup-form-375.png"), full_page=True)
            page.get_by_role("button", name="Subscribe").click()

            expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
            assert no_horizontal_scroll(page)
            page.screenshot(path=str(ARTIFACTS / "signup-sent-375.png"), full_page=True)

            link, email_html = confirmation_email(server.workspace.outbox_dir)
            page.set_content(email_html)
            expect(page.get_by_role("link", name="Yes, subscribe me")).to_have_attribute(
                "href", link
            )
            assert no_horizontal_scroll(page)
            page.screenshot(path=str(ARTIFACTS / "signup-confirm-email-375.png"), full_page=True)
            # Issue 10 item 12: the link opens a page; only its one button confirms.
            page.goto(server.url + link[len(BASE) :])
            expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
            expect(page.get_by_role("button")).to_have_count(1)
            assert no_horizontal_scroll(page)
            page.screenshot(path=str(ARTIFACTS / "signup-confirm-page-375.png"), full_page=True)
            page.get_by_role("button", name="Yes, subscribe me").click()
            expect(page.get_by_role("heading", name="You're subscribed!")).to_be_visible()
            assert no_horizontal_scroll(page)
            page.screenshot(path=str(ARTIFACTS / "signup-confirmed-375.png"), full_page=True)
        finally:
            browser.close()


@pytest.mark.browser
def test_missing_consent_is_explained_next_to_the_form(
    server: LiveServer, chromium_path: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740})
            page.goto(f"{server.url}/subscribe")
            page.get_by_label("Email address").fill("maria@example.com")
            page.get_by_role("button", name="Subscribe").click()
            expect(page.get_by_role("alert")).to_contain_text("tick the box")
            expect(page.get_by_label("Email address")).to_have_value("maria@example.com")
            expect(page.get_by_label(CONSENT)).to_be_focused()
            assert no_horizontal_scroll(page)
            page.screenshot(path=str(ARTIFACTS / "signup-error-375.png"), full_page=True)
        finally:
            browser.close()
