"""The staff sign-in in a real browser (Debian's Chromium), on a desktop and a phone screen
(issue 13 items 2 and 9): set a password from the one-time link, sign in, see /staff, sign out.
No sideways scrolling at 375 px, labels on every field, visible focus, htmx loaded and nothing
blocked by the Content-Security-Policy. Screenshots in test-artifacts/ (gitignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.staff import accounts, invites
from mailer.staff.accounts import Role
from mailer.store.db import transaction
from tests.staff.conftest import PASSWORD, StaffServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def no_horizontal_scroll(page: object) -> bool:
    return bool(
        page.evaluate(  # type: ignore[attr-defined]
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
    )


def focus_is_visible(page: object) -> bool:
    return bool(
        page.evaluate(  # type: ignore[attr-defined]
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; })()"
        )
    )


def unlabelled_fields(page: object) -> list[str]:
    """Visible form fields without a label (a <label for>, aria-label or aria-labelledby)."""
    found: list[str] = page.evaluate(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('input:not([type=hidden]):not([hidden]), textarea, select')]"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.getAttribute('aria-labelledby')).map(e => e.name || e.id)"
    )
    return found


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 375])
def test_set_password_sign_in_and_out(
    staff_server: StaffServer, chromium_path: str, width: int
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    clock = staff_server.clock
    with transaction(staff_server.sessions) as db:
        account = accounts.add(db, "maria@clinic.example", Role.OWNER, now=clock(), name="Maria")
        token = invites.issue(db, account, staff_server.app.state.context.key, now=clock())
    shot = ARTIFACTS / f"staff-{width}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            blocked: list[str] = []
            # A script or style the Content-Security-Policy blocked, a script error, a request
            # that failed (not a 4xx answer: the refused sign-in below is a 400 on purpose).
            page.on(
                "console",
                lambda message: (
                    blocked.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            page.on("pageerror", lambda error: blocked.append(str(error)))
            page.on("requestfailed", lambda request: blocked.append(request.url))
            page.goto(f"{staff_server.url}/staff/welcome/{token}")
            expect(page.get_by_role("heading", name="Set your password")).to_be_visible()
            assert unlabelled_fields(page) == []
            assert no_horizontal_scroll(page)
            page.get_by_label("New password").fill(PASSWORD)
            page.get_by_label("Repeat the password").fill(PASSWORD)
            page.screenshot(path=f"{shot}-1-welcome.png", full_page=True)
            page.get_by_role("button", name="Set password").click()

            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            expect(page.get_by_role("status")).to_contain_text("Your password is set")
            assert unlabelled_fields(page) == []
            assert no_horizontal_scroll(page)
            email = page.get_by_label("Email")
            expect(email).to_be_focused()  # autofocus: type at once
            assert focus_is_visible(page)
            email.press_sequentially("maria@clinic.example")
            page.keyboard.press("Tab")
            expect(page.get_by_label("Password")).to_be_focused()
            assert focus_is_visible(page)
            page.keyboard.type("not the password")
            page.keyboard.press("Enter")
            expect(page.get_by_role("alert")).to_contain_text("do not match a staff account")
            assert no_horizontal_scroll(page)
            page.screenshot(path=f"{shot}-2-sign-in-refused.png", full_page=True)

            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{staff_server.url}/staff")
            expect(page.get_by_role("heading", name="Campaigns", level=1)).to_be_visible()
            nav = page.get_by_role("navigation", name="Staff pages")
            expect(nav.get_by_role("link", name="Campaigns")).to_have_attribute(
                "aria-current", "page"
            )
            assert page.evaluate("typeof htmx") == "object"  # served from here, allowed by CSP
            assert no_horizontal_scroll(page)
            page.screenshot(path=f"{shot}-3-signed-in.png", full_page=True)

            page.get_by_role("link", name="Staff").click()
            expect(page.get_by_role("table")).to_contain_text("maria@clinic.example")
            assert no_horizontal_scroll(page)
            page.screenshot(path=f"{shot}-4-staff.png", full_page=True)

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("status")).to_contain_text("You are signed out.")
            page.goto(f"{staff_server.url}/staff")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # asked again
            assert blocked == []
        finally:
            browser.close()
