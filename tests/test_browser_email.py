"""The rendered email in a real browser (Chromium): readable on a phone and on a desktop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.compose.campaign import Campaign
from mailer.compose.render import render_campaign
from mailer.tracking import SecretKey
from mailer.workspace import Workspace

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SITE = "https://www.summitspine.example"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def digest_body() -> str:
    parts = ["This week: three short reads from our team.", "[[cta]]"]
    for title, slug in [
        ("Why your neck affects your whole spine", "neck-and-spine"),
        ("Three desk habits that ease headaches", "desk-habits"),
        ("A patient story: back on the trail after vertigo", "vertigo-story"),
    ]:
        parts.append(
            f"## {title}\n\n![{title}]({SITE}/images/{slug}.jpg)\n\n"
            "Many people live with **neck tension** for years without knowing where it "
            "starts. A_very_long_unbreakable_word_like_a_pasted_reference_code_1234567890.\n\n"
            "- Notice when the pain starts\n- Keep a simple diary\n\n"
            f'[[button "Read the full article" {SITE}/blog/{slug}]]'
        )
    parts.append("[[cta]]")
    return "\n\n".join(parts)


@pytest.fixture
def email_html(workspace: Workspace) -> str:
    campaign = Campaign(
        slug="2026-03-10-digest",
        subject="Three short reads for a healthier neck",
        preheader="Desk habits, sleep, and a patient story",
        body=digest_body(),
    )
    rendered = render_campaign(workspace, campaign)
    key = SecretKey.for_workspace(workspace)
    return rendered.fill(rendered.substitutions(key, 7, "Maria"))[1]


@pytest.fixture
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 600])
def test_no_horizontal_scrolling_and_cta_visible(
    browser: object, email_html: str, width: int
) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": width, "height": 800})
    # Images point at the clinic's site; the test stays on loopback, so block them.
    page.route("**/*", lambda route: route.abort())
    page.set_content(email_html, wait_until="domcontentloaded")
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= inner_width

    cta = page.get_by_role("link", name="Book your free consultation").first
    box = cta.bounding_box()
    assert box is not None and box["width"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= inner_width
    if width == 600:
        assert box["y"] + box["height"] < 800  # seen without scrolling on a desktop
    unsubscribe = page.get_by_role("link", name="Unsubscribe")
    assert unsubscribe.count() == 1

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"email-{width}.png"), full_page=True)
    page.close()
