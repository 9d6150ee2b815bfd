"""Issue 19, subscriber-facing: what a reader sees on the public pages in the first minutes."""

from __future__ import annotations

import email
import email.policy
import re
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from mailer.subscribers.typos import suggest_address
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer


def _written(outbox: Path) -> list[Path]:
    """The messages the outbox has finished writing (not its .tmp-* files in progress)."""
    return [path for path in outbox.glob("*.eml") if not path.name.startswith(".")]


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def test_the_web_copy_greets_nobody_and_offers_subscribing_not_unsubscribing(
    sent: Sent, live_server: LiveServer
) -> None:
    """Item 1: the email says "Hi Ana," and "you are receiving this because..." with an
    Unsubscribe link; the archive copy of the same issue has none of those, and offers the
    signup form and the other issues instead."""
    email_html = sent.html("ana@example.com")
    assert "You are receiving this email" in email_html
    assert ">Unsubscribe</a>" in email_html

    page = httpx.get(f"{live_server.url}/archive/{sent.slug}").text
    assert "Hi there" not in page and "Hi Ana" not in page
    assert "You are receiving this email" not in page
    assert "Unsubscribe" not in page and "/u/" not in page
    assert f'href="{live_server.url}/subscribe">Subscribe to the newsletter</a>' in page
    assert f'href="{live_server.url}/archive">More issues</a>' in page
    assert "How you sleep shapes how your neck feels" in page  # the article is all there


def test_the_front_page_leads_to_the_archive(live_server: LiveServer) -> None:
    """Item 2: `/` is not a 404; it goes to the archive, which links to the signup form."""
    response = httpx.get(f"{live_server.url}/", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"] == "/archive"
    archive = httpx.get(f"{live_server.url}/", follow_redirects=True)
    assert archive.status_code == 200 and "Newsletter archive" in archive.text
    assert 'href="/subscribe"' in archive.text


def test_public_pages_have_navigation_and_the_confirmation_offers_the_booking_page(
    live_server: LiveServer,
) -> None:
    """Item 3: public pages carry navigation with a subscribe link; the page that thanks a new
    subscriber for confirming offers the booking page, the point of the newsletter."""
    for path in ("/archive", "/subscribe", "/archive/no-such-issue"):
        page = httpx.get(f"{live_server.url}{path}").text
        assert '<nav aria-label="Newsletter">' in page, path
        assert 'href="/archive"' in page and 'href="/subscribe"' in page, path

    form = {"email": "maria@example.com", "first_name": "Maria", "consent": "yes", "homepage": ""}
    assert httpx.post(f"{live_server.url}/subscribe", data=form).status_code == 200
    outbox = live_server.workspace.outbox_dir / "signup-confirm"
    deadline = time.monotonic() + 10
    while not _written(outbox) and time.monotonic() < deadline:
        time.sleep(0.02)
    (mail,) = _written(outbox)
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",))
    assert isinstance(text, EmailMessage)
    link = re.search(r"/confirm/[A-Za-z0-9_-]+", text.get_content())
    assert link is not None
    confirmed = httpx.post(f"{live_server.url}{link[0]}")
    assert confirmed.status_code == 200 and "You're subscribed" in confirmed.text
    booking = live_server.workspace.settings.booking
    assert f'href="{booking.url}"' in confirmed.text
    assert booking.cta_text in confirmed.text


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("maria@gmail.con", "maria@gmail.com"),
        ("maria@hotmial.com", "maria@hotmail.com"),
        ("maria@yahoo.co", "maria@yahoo.com"),
        ("maria@gmial.com", "maria@gmail.com"),
        ("maria@outlok.com", "maria@outlook.com"),
        ("maria@gmail.com", None),
        ("maria@mail.com", None),
        ("maria@gmx.de", None),
        ("front.desk@summitspine.example", None),
        ("maria@clinic.com", None),
    ],
)
def test_likely_domain_typos_get_a_suggestion_and_real_domains_none(
    typed: str, meant: str | None
) -> None:
    """Item 5: the usual slips on the big providers' names are caught; a real domain, one of
    theirs or a clinic's own, is never "corrected"."""
    assert suggest_address(typed) == meant


def test_the_signup_form_asks_did_you_mean_and_keeps_nothing_until_answered(
    live_server: LiveServer,
) -> None:
    """Item 5: a probable typo is not accepted silently: the form asks "Did you mean ...?",
    stores nothing and sends nothing until the person picks one of the two addresses."""
    url = f"{live_server.url}/subscribe"
    form = {"email": "maria@gmail.con", "first_name": "Maria", "consent": "yes", "homepage": ""}
    asked = httpx.post(url, data=form)
    assert asked.status_code == 200
    assert "Did you mean <strong>maria@gmail.com</strong>?" in asked.text
    assert 'value="maria@gmail.con"' in asked.text  # what they typed is kept in the field
    assert "checked" in asked.text  # and so is their consent
    outbox = live_server.workspace.outbox_dir / "signup-confirm"
    assert not outbox.exists() or not list(outbox.glob("*.eml"))

    taken = httpx.post(url, data={**form, "address_choice": "suggested"})
    assert taken.status_code == 200 and "Check your inbox" in taken.text
    kept = httpx.post(url, data={**form, "email": "ana@hotmial.com", "address_choice": "as_typed"})
    assert kept.status_code == 200 and "Check your inbox" in kept.text
    deadline = time.monotonic() + 10
    while len(_written(outbox)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    recipients = set()
    for path in _written(outbox):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients.add(message["To"].addresses[0].addr_spec.lower())
    assert recipients == {"maria@gmail.com", "ana@hotmial.com"}
