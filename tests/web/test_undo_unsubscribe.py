"""Issue 10 item 14: undo is offered only right after a web unsubscribe made with that link,
for 30 minutes, and records consent; nothing else (staff, one-click, SendGrid group
unsubscribes, bounces, complaints, an old or forwarded email) is ever undone by a link. A live
server, the links from the real .eml files."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from mailer.events.ingest import ingest
from mailer.events.sources.sendgrid import read_events
from mailer.store.models import StatusChange, Subscriber, SubscriberStatus
from mailer.subscribers.service import unsubscribe
from mailer.subscribers.unsubscribe import UNDO_CONSENT_SOURCE
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ANA, BEN = "ana@example.com", "ben@example.com"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def press_unsubscribe(url: str) -> dict[str, str]:
    """The page's button; the undo form's field on the page it answers with."""
    page = httpx.post(url, data={})
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    found = re.search(r'name="undo" value="([^"]+)"', page.text)
    assert found, "no undo offered right after a web unsubscribe"
    return {"undo": found[1]}


def undo(url: str, form: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + "/resubscribe", data=form or {})


def refused(sent: Sent, address: str, response: httpx.Response, status: str) -> None:
    assert response.status_code == 410, response.text
    assert "subscribed again" not in response.text
    assert sent.status(address) == status


def consent(sent: Sent, address: str) -> tuple[str, str, str]:
    with sent.sessions() as session:
        person = session.get(Subscriber, sent.ids[address])
        assert person is not None
        return person.consent_source, person.consent_ip, person.consent_text


def test_undo_right_after_a_web_unsubscribe_records_consent(sent: Sent) -> None:
    """Issue 10 item 14: the page shown after pressing "Unsubscribe" offers the undo; pressing
    it subscribes again with the consent recorded (source, time, IP); it works once."""
    url = sent.unsubscribe_url(ANA)
    form = press_unsubscribe(url)
    assert "<button" not in httpx.get(url).text  # a later visit offers no undo
    back = undo(url, form)
    assert back.status_code == 200 and "You are subscribed again" in back.text
    assert sent.status(ANA) == SubscriberStatus.ACTIVE
    source, ip, text = consent(sent, ANA)
    assert (source, ip) == (UNDO_CONSENT_SOURCE, "127.0.0.1") and "Undo" in text
    with sent.sessions() as session:
        person = session.get(Subscriber, sent.ids[ANA])
        assert person is not None and person.consent_at is not None

    # Unsubscribed again, the earlier undo is spent: it named another change.
    press_unsubscribe(url)
    refused(sent, ANA, undo(url, form), SubscriberStatus.UNSUBSCRIBED)


def test_undo_expires_after_thirty_minutes(sent: Sent) -> None:
    """Issue 10 item 14: 30 minutes after the unsubscribe, its undo is refused."""
    url = sent.unsubscribe_url(ANA)
    form = press_unsubscribe(url)
    with sent.sessions() as session, session.begin():
        [change] = session.scalars(
            select(StatusChange).where(
                StatusChange.subscriber_id == sent.ids[ANA], StatusChange.source == "web"
            )
        ).all()
        session.execute(
            update(StatusChange)
            .where(StatusChange.id == change.id)
            .values(changed_at=change.changed_at - timedelta(minutes=31))
        )
    refused(sent, ANA, undo(url, form), SubscriberStatus.UNSUBSCRIBED)


def test_an_old_or_forwarded_email_cannot_undo(sent: Sent) -> None:
    """Issue 10 item 14: anyone holding the email (no undo from the page) cannot reverse an
    unsubscribe, not even one made moments ago; a made-up or altered undo is refused too."""
    url = sent.unsubscribe_url(ANA)
    form = press_unsubscribe(url)
    refused(sent, ANA, undo(url), SubscriberStatus.UNSUBSCRIBED)
    refused(sent, ANA, undo(url, {"undo": form["undo"][:-2] + "AA"}), "unsubscribed")
    # Ben's undo token is not Ana's.
    ben_form = press_unsubscribe(sent.unsubscribe_url(BEN))
    refused(sent, ANA, undo(url, ben_form), SubscriberStatus.UNSUBSCRIBED)


def test_a_one_click_unsubscribe_offers_no_undo(sent: Sent) -> None:
    """Issue 10 item 14: the mail program's one-click POST (RFC 8058) is final."""
    url = sent.unsubscribe_url(ANA)
    response = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200 and 'name="undo"' not in response.text
    refused(sent, ANA, undo(url), SubscriberStatus.UNSUBSCRIBED)


def test_a_staff_unsubscribe_is_never_undone_by_a_link(sent: Sent) -> None:
    """Issue 10 item 14: an unsubscribe by staff (`mailer subscribers unsubscribe`) is not
    undone by the person's link, nor by an undo from their own earlier web unsubscribe."""
    with sent.sessions() as session, session.begin():
        unsubscribe(session, BEN)  # source "cli"
    refused(sent, BEN, undo(sent.unsubscribe_url(BEN)), SubscriberStatus.UNSUBSCRIBED)

    url = sent.unsubscribe_url(ANA)
    form = press_unsubscribe(url)
    assert undo(url, form).status_code == 200
    with sent.sessions() as session, session.begin():
        unsubscribe(session, ANA)  # source "cli"
    refused(sent, ANA, undo(url, form), SubscriberStatus.UNSUBSCRIBED)
    refused(sent, ANA, undo(url), SubscriberStatus.UNSUBSCRIBED)


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ("group_unsubscribe", SubscriberStatus.UNSUBSCRIBED),
        ("unsubscribe", SubscriberStatus.UNSUBSCRIBED),
        ("bounce", SubscriberStatus.BOUNCED),
        ("spamreport", SubscriberStatus.COMPLAINED),
    ],
)
def test_provider_suppressions_are_never_undone_by_a_link(
    sent: Sent, event: str, status: str
) -> None:
    """Issue 10 item 14: a SendGrid (group) unsubscribe, bounce or spam report offers no undo,
    and one arriving after a web unsubscribe leaves that unsubscribe's undo refused."""

    def provider_event(address: str) -> None:
        raw = {
            "event": event,
            "type": "bounce",
            "sg_event_id": f"sg-{event}-{address}",
            "subscriber_id": str(sent.ids[address]),
            "campaign_slug": sent.slug,
        }
        ingest(sent.sessions, read_events([raw]))

    provider_event(BEN)
    refused(sent, BEN, undo(sent.unsubscribe_url(BEN)), status)

    url = sent.unsubscribe_url(ANA)
    form = press_unsubscribe(url)
    provider_event(ANA)
    refused(sent, ANA, undo(url, form), status)
