"""The public archive: sent issues only, shown without anyone's tokens."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.delivery_helpers import CAMPAIGN
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

TOKENS = re.compile(r"/(u|c)/[A-Za-z0-9_-]{10,}|%%[a-z_]+%%")


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def test_archive_lists_sent_issues_newest_first(sent: Sent, live_server: LiveServer) -> None:
    later = CAMPAIGN.replace("subject: Sleep position and neck pain", "subject: Desk posture")
    sent.send("desk-posture", later)
    (sent.workspace.campaigns_dir / "still-a-draft.md").write_text(
        CAMPAIGN.replace("status: approved", "status: draft"), encoding="utf-8"
    )
    page = httpx.get(f"{live_server.url}/archive")
    assert page.status_code == 200
    assert sent.workspace.settings.organization.name in page.text
    assert page.text.index("Desk posture") < page.text.index("Sleep position and neck pain")
    assert 'href="/archive/sleep-and-neck-pain"' in page.text
    assert "still-a-draft" not in page.text


def test_issue_page_has_no_ones_tokens(sent: Sent, live_server: LiveServer) -> None:
    view = f"{live_server.url}/archive/{sent.slug}"
    assert view in sent.html("ana@example.com"), "the email links to its archive copy"
    page = httpx.get(view)
    assert page.status_code == 200
    assert "How you sleep shapes how your neck feels" in page.text
    assert TOKENS.search(page.text) is None
    assert "utm_campaign=sleep-and-neck-pain" in page.text
    assert "Reader" not in page.text  # nobody's first name


def test_issue_falls_back_to_the_stored_html_when_the_file_is_gone(
    sent: Sent, live_server: LiveServer
) -> None:
    (sent.workspace.campaigns_dir / f"{sent.slug}.md").unlink()
    page = httpx.get(f"{live_server.url}/archive/{sent.slug}")
    assert page.status_code == 200
    assert "How you sleep shapes how your neck feels" in page.text
    assert TOKENS.search(page.text) is None
    assert "utm_campaign=sleep-and-neck-pain" in page.text


def test_drafts_unknown_and_traversal_slugs_are_404(sent: Sent, live_server: LiveServer) -> None:
    (sent.workspace.campaigns_dir / "still-a-draft.md").write_text(CAMPAIGN, encoding="utf-8")
    for slug in (
        "still-a-draft",
        "nothing-here",
        "..%2Fmailer.toml",
        # (bare ".." is not here: clients resolve /archive/.. to /, the front page, RFC 3986)
        "...",
        ".hidden",
        "%2e%2e%2fmailer.toml",
        "a" * 300,
    ):
        response = httpx.get(f"{live_server.url}/archive/{slug}")
        assert response.status_code == 404, slug
        assert "[organization]" not in response.text


def test_issue_shows_what_was_sent_not_the_file_as_it_is_now(
    sent: Sent, live_server: LiveServer
) -> None:
    """Issue 10 item 2: an edit of the campaign file after sending (even to status: draft) is
    never published: the archive shows the message stored when sending started."""
    path = sent.workspace.campaigns_dir / f"{sent.slug}.md"
    path.write_text(
        path.read_text(encoding="utf-8")
        .replace('status: "sent"', "status: draft")
        .replace("How you sleep shapes", "A LATER DRAFT: how you sleep shapes"),
        encoding="utf-8",
    )
    page = httpx.get(f"{live_server.url}/archive/{sent.slug}")
    assert page.status_code == 200
    assert "How you sleep shapes how your neck feels" in page.text
    assert "A LATER DRAFT" not in page.text
