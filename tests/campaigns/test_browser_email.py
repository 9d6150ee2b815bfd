"""The rendered email in a real browser (Chromium): readable on a phone and on a desktop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.render import render_campaign
from mailer.tokens import SecretKey
from mailer.workspace import Workspace

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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


@pytest.mark.browser
def test_numbered_steps_with_bullets_read_as_steps_on_a_phone(
    browser: object, workspace: Workspace
) -> None:
    """Issue 12 item 1: at 375 px the steps show 1, 2, 3 with their bullets indented under
    each; sub-headings are smaller than their section's heading."""
    from playwright.sync_api import Browser

    from mailer.articles import load_article
    from mailer.campaigns.draft import CallToAction, write_draft

    assert isinstance(browser, Browser)
    fixtures = Path(__file__).parents[1] / "fixtures" / "articles"
    article = load_article(fixtures / "balance-upper-neck.txt")
    campaign = write_draft(
        [article], workspace.campaigns_dir, CallToAction("Book your free consultation", SITE)
    )
    rendered = render_campaign(workspace, campaign)
    html = rendered.fill(rendered.substitutions(SecretKey.for_workspace(workspace), 7, "Maria"))[1]

    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.route("**/*", lambda route: route.abort())
    page.set_content(html, wait_until="domcontentloaded")
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= inner_width
    steps = page.evaluate(
        """() => [...document.querySelectorAll('ol')].filter(ol => !ol.closest('li')).map(ol =>
            [...ol.children].map(li => {
              const bullets = li.querySelector(':scope > ul');
              const box = li.getBoundingClientRect();
              return {
                marker: getComputedStyle(li).listStyleType,
                text: li.firstChild.textContent.trim(),
                bullets: bullets ? [...bullets.children].map(b => ({
                  marker: getComputedStyle(b).listStyleType,
                  left: b.getBoundingClientRect().left,
                })) : [],
                left: box.left,
              };
            }))"""
    )
    assert len(steps) == 1  # one numbered list
    items = steps[0]
    assert [item["text"] for item in items] == [
        "How Posture Shifts Your Balance",
        "Why Nerves Matter for the Joint",
        "What a Quick Check Looks Like",
    ]
    for item in items:
        assert item["marker"] == "decimal"
        assert len(item["bullets"]) == 2
        for bullet in item["bullets"]:
            assert bullet["marker"] in {"disc", "circle", "square"}
            assert bullet["left"] > item["left"] + 8  # indented under its step
    h2, h3 = page.evaluate(
        """() => ['h2', 'h3'].map(tag => parseFloat(getComputedStyle(
            document.querySelector('.body ' + tag)).fontSize))"""
    )
    assert h3 < h2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "article-steps-375.png"), full_page=True)
    page.close()
