"""The campaign pages in a real browser (Debian's Chromium), at 1280 and 375 px: an owner pastes
a blog export, watches the preview follow the subject as they type, saves, sends a test to
themselves and approves. Screenshots go to tests/artifacts/ (look at them)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.staff.conftest import ARTICLES, ARTIFACTS, OWNER, sign_in_as
from tests.web_server import LiveServer

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
URL = "https://www.summitspine.example/blog/headaches"
TYPED = "Headaches that start in your neck"


def _no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _wait_for(condition: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 375])
def test_an_owner_drafts_previews_tests_and_approves_in_the_browser(
    server: LiveServer, chromium_path: str, width: int
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outbox = server.workspace.outbox_dir
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": 900}, base_url=server.url
            )
            sign_in_as(context, OWNER, "owner")
            page = context.new_page()
            page.on("pageerror", lambda err: problems.append(f"script error: {err}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"{msg.text} {msg.location}")
                    if msg.type == "error"
                    and not msg.location.get("url", "").endswith("/favicon.ico")
                    else None
                ),
            )

            page.goto("/staff")
            page.get_by_role("link", name="New campaign").click()
            page.get_by_label("Article text").fill(
                (ARTICLES / "headaches.txt").read_text(encoding="utf-8")
            )
            page.get_by_label("Article address").fill(URL)
            assert _no_sideways_scroll(page)
            page.screenshot(path=str(ARTIFACTS / f"staff-new-{width}.png"), full_page=True)
            page.get_by_role("button", name="Create draft").click()
            expect(page).to_have_url(re.compile(r"/staff/campaigns/[^/?]+\?done=created$"))
            slug = page.url.split("/staff/campaigns/")[1].split("?")[0]

            preview = page.frame_locator('iframe[title="Preview"]')
            expect(preview.locator("body")).to_contain_text("cervicogenic", timeout=15000)
            frame = page.frame(name="preview")
            assert frame is not None
            _wait_for(lambda: "Upper Neck" in frame.title(), "the saved subject in the preview")

            subject = page.get_by_label("Subject", exact=True)
            subject.fill("")
            subject.press_sequentially(TYPED, delay=15)
            _wait_for(lambda: frame.title() == TYPED, "the typed subject in the preview")
            expect(page.locator("#subject-count")).to_have_text(f"{len(TYPED)} / 60 characters")
            expect(page.locator("[data-mirror=subject]")).to_have_text(TYPED)
            expect(page.get_by_role("button", name="Send test to me")).to_be_disabled()
            assert _no_sideways_scroll(page)
            page.screenshot(path=str(ARTIFACTS / f"staff-editing-{width}.png"), full_page=True)
            # Chromium leaves iframes out of full-page shots taken below the fold: the panel too.
            page.locator("section", has=page.locator("iframe")).screenshot(
                path=str(ARTIFACTS / f"staff-preview-{width}.png")
            )

            page.get_by_label("Mobile (375 px)").check()
            box = page.locator('iframe[title="Preview"]').bounding_box()
            assert box is not None and box["width"] <= 377

            page.get_by_role("button", name="Save", exact=True).click()
            expect(page).to_have_url(re.compile(r"\?done=saved$"))
            page.get_by_role("button", name="Send test to me").click()
            expect(page.get_by_role("status")).to_contain_text(f"A test was sent to {OWNER}")
            copies = list(outbox.glob(f"{slug}_test*/*.eml"))
            assert len(copies) == 1
            assert f"Subject: [TEST] {TYPED}" in copies[0].read_text(errors="replace")

            page.get_by_role("button", name="Approve", exact=True).click()
            expect(page.get_by_role("status")).to_contain_text("Approved as it is now")
            expect(page.get_by_role("button", name="Unapprove")).to_be_visible()
            assert _no_sideways_scroll(page)
            page.screenshot(path=str(ARTIFACTS / f"staff-approved-{width}.png"), full_page=True)

            page.goto("/staff")
            expect(page.get_by_role("link", name=TYPED)).to_be_visible()
            expect(page.get_by_text(OWNER).last).to_be_visible()
            assert _no_sideways_scroll(page)
            page.screenshot(path=str(ARTIFACTS / f"staff-list-{width}.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
