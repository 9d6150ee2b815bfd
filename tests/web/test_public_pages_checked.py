"""Issue 19: every public page passes the W3C Nu Html Checker (no error) and axe-core (no
serious or critical violation), run here on the real pages of a real send: the archive and
an issue in it, the signup form and each of its answers, the confirmation pages, and the
unsubscribe pages before and after the button. Chromium for axe-core, Java for the checker."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.web.checkers import axe_violations, html_errors
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def public_pages(sent: Sent, live_server: LiveServer) -> dict[str, str]:
    """Each public page a reader can meet, by name: its HTML as the server answered it."""
    base = live_server.url
    pages: dict[str, str] = {}

    def get(name: str, path: str) -> None:
        pages[name] = httpx.get(f"{base}{path}", follow_redirects=True).text

    def post(name: str, path: str, form: dict[str, str]) -> None:
        pages[name] = httpx.post(f"{base}{path}", data=form).text

    get("archive", "/")
    get("issue", f"/archive/{sent.slug}")
    get("not-found", "/archive/no-such-issue")
    get("signup", "/subscribe")
    form = {"email": "maria@example.com", "first_name": "Maria", "consent": "yes", "homepage": ""}
    post("signup-missing-consent", "/subscribe", {**form, "consent": ""})
    post("signup-bad-address", "/subscribe", {**form, "email": "maria@"})
    post("signup-did-you-mean", "/subscribe", {**form, "email": "maria@gmail.con"})
    post("signup-sent", "/subscribe", form)
    post("signup-already", "/subscribe", {**form, "email": "ana@example.com"})
    get("confirm-invalid", "/confirm/not-a-token")
    unsubscribe = sent.unsubscribe_url("ana@example.com").removeprefix(base)
    get("unsubscribe-ask", unsubscribe)
    post("unsubscribed", unsubscribe, {})
    pages_text = pages["unsubscribed"]
    undo = re.search(r'name="undo" value="([^"]+)"', pages_text)
    if undo:
        post("resubscribed", f"{unsubscribe}/resubscribe", {"undo": undo[1]})
    return pages


@pytest.mark.slow
def test_every_public_page_is_valid_html(
    sent: Sent, live_server: LiveServer, tmp_path: Path
) -> None:
    pages = public_pages(sent, live_server)
    assert len(pages) >= 12
    assert html_errors(pages, tmp_path / "pages") == []


@pytest.mark.browser
def test_every_public_page_passes_axe(
    sent: Sent, live_server: LiveServer, chromium_path: str
) -> None:
    from playwright.sync_api import sync_playwright

    pages = public_pages(sent, live_server)
    found: dict[str, list[str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740})
            for name, html in pages.items():
                page.set_content(html)
                violations = axe_violations(page)
                if violations:
                    found[name] = violations
        finally:
            browser.close()
    assert found == {}
