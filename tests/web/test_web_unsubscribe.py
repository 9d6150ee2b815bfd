"""One-click unsubscribe through the List-Unsubscribe header of a real .eml (RFC 8058)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from mailer.delivery.providers.outbox import outbox_file_name
from mailer.store.models import Event, EventKind, StatusChange, Subscriber, SubscriberStatus
from mailer.tokens import unsubscribe_token
from tests.web_sending import Sent, send_campaign, undo_field
from tests.web_server import LiveServer

ANA, BEN = "ana@example.com", "ben@example.com"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def _changes(sent: Sent, address: str) -> list[StatusChange]:
    with sent.sessions() as session:
        return list(
            session.scalars(
                select(StatusChange)
                .where(StatusChange.subscriber_id == sent.ids[address])
                .order_by(StatusChange.id)
            )
        )


def _events(sent: Sent) -> list[Event]:
    with sent.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == EventKind.UNSUBSCRIBED)))


def test_one_click_post_from_the_eml_stops_every_later_send(sent: Sent) -> None:
    url = sent.unsubscribe_url(ANA)
    assert url.startswith(sent.workspace.settings.web.base_url + "/u/")
    assert str(sent.eml(ANA)["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"

    response = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200
    assert "unsubscribed" in response.text
    assert sent.status(ANA) == SubscriberStatus.UNSUBSCRIBED
    change = _changes(sent, ANA)[-1]
    assert (change.new_status, change.source) == ("unsubscribed", "one-click")
    assert change.reason == "unsubscribed from sleep-and-neck-pain"
    [event] = _events(sent)
    assert event.source == "web" and event.subscriber_id == sent.ids[ANA]
    assert event.campaign_id is not None

    again = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert again.status_code == 200
    assert len(_changes(sent, ANA)) == 2 and len(_events(sent)) == 1

    folder = sent.send("next-issue")
    assert sorted(p.name for p in folder.glob("*.eml")) == [outbox_file_name(BEN)]


def test_multipart_one_click_body_is_accepted(sent: Sent) -> None:
    url = sent.unsubscribe_url(BEN)
    response = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert sent.status(BEN) == SubscriberStatus.UNSUBSCRIBED
    assert _changes(sent, BEN)[-1].source == "one-click"


def test_get_alone_changes_nothing(sent: Sent) -> None:
    url = sent.unsubscribe_url(ANA)
    for _ in range(2):
        page = httpx.get(url)
        assert page.status_code == 200
        assert sent.workspace.settings.organization.name in page.text
        assert page.text.count("<button") == 1
        assert f'action="{url.removeprefix(sent.workspace.settings.web.base_url)}"' in page.text
    assert sent.status(ANA) == SubscriberStatus.ACTIVE
    assert len(_changes(sent, ANA)) == 1 and _events(sent) == []


def test_page_button_unsubscribes_with_source_web_and_undo_resubscribes(sent: Sent) -> None:
    url = sent.unsubscribe_url(ANA)
    page = httpx.post(url, data={})
    assert page.status_code == 200 and "/resubscribe" in page.text
    assert _changes(sent, ANA)[-1].source == "web"
    assert "already unsubscribed" in httpx.get(url).text

    undo = httpx.post(url + "/resubscribe", data=undo_field(page))
    assert undo.status_code == 200 and "subscribed again" in undo.text
    assert sent.status(ANA) == SubscriberStatus.ACTIVE
    change = _changes(sent, ANA)[-1]
    assert (change.source, change.reason) == ("web", "resubscribed after unsubscribing")
    # Resubscribing an active person changes nothing.
    assert httpx.post(url + "/resubscribe", data=undo_field(page)).status_code == 200
    assert len(_changes(sent, ANA)) == 3


@pytest.mark.parametrize("status", [SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED])
def test_resubscribe_never_revives_a_bounce_or_complaint(sent: Sent, status: str) -> None:
    with sent.sessions() as session, session.begin():
        person = session.get(Subscriber, sent.ids[BEN])
        assert person is not None
        person.status = status
    url = sent.unsubscribe_url(BEN)
    assert httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK).is_success
    assert httpx.post(url + "/resubscribe").status_code == 410
    assert sent.status(BEN) == status
    assert _events(sent) == []


def test_tampered_or_foreign_tokens_are_404_and_change_nothing(sent: Sent) -> None:
    url = sent.unsubscribe_url(ANA)
    base, token = url.rsplit("/", 1)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    foreign = unsubscribe_token(b"another-key", sent.ids[ANA], sent.slug)
    for bad in (flipped, token[:-4], foreign, "x", "%00", "a" * 300):
        for response in (
            httpx.get(f"{base}/{bad}"),
            httpx.post(f"{base}/{bad}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK),
            httpx.post(f"{base}/{bad}/resubscribe"),
        ):
            assert response.status_code == 404, bad
            assert "location" not in response.headers
            assert "Traceback" not in response.text
    assert sent.status(ANA) == SubscriberStatus.ACTIVE
    assert _events(sent) == [] and len(_changes(sent, ANA)) == 1


def test_erased_subscriber_is_404(sent: Sent) -> None:
    from mailer.subscribers.service import delete_subscriber

    url = sent.unsubscribe_url(BEN)
    with sent.sessions() as session, session.begin():
        delete_subscriber(session, BEN)
    assert httpx.get(url).status_code == 404
    post = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert post.status_code == 404 and _events(sent) == []
