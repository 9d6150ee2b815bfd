"""Issue 10 items 12 and 13: the confirmation link opens a page whose one button confirms (a
GET changes nothing: mail scanners follow links), a confirmation asked for before the person's
latest unsubscribe is refused, and a complained address gets no email from the public form and
comes back only through staff, with the consent recorded. Over real HTTP, the outbox
writing the emails."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import StatusChange, Subscriber, SubscriberStatus
from mailer.subscribers.service import add_subscriber, unsubscribe
from mailer.subscribers.signup import Person, confirm_token
from mailer.subscribers.status import By, move
from mailer.tokens import SecretKey
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.web.test_web_signup import (
    BASE,
    confirm_link,
    history,
    local,
    outbox_file,
    parse,
    sign_up,
    subscriber,
    wait_for_mail,
)
from tests.web_server import LiveServer, serve


@pytest.fixture
def client(
    workspace: Workspace, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    """The app with a public base_url (as in test_web_signup), and a client for it."""
    monkeypatch.setenv("MAILER_WEB__BASE_URL", BASE)
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    live: LiveServer
    for live in serve(workspace):
        with httpx.Client(base_url=live.url, timeout=10) as http:
            yield http


def _pending(client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace,
             address: str) -> tuple[int, str]:  # fmt: skip
    """Sign ``address`` up; (their id, the path of the emailed confirmation link)."""
    assert sign_up(client, address).status_code == 200
    person = subscriber(sessions, address)
    assert person is not None and person.status == SubscriberStatus.PENDING
    mail = parse(wait_for_mail(outbox_file(workspace, "signup-confirm", person.email)))
    return person.id, local(confirm_link(mail))


def test_the_link_opens_a_page_and_only_its_button_confirms(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    """Issue 10 item 12: GET /confirm/{token} shows one button, a form POSTing to the same
    address, and changes nothing however often it is fetched; the POST confirms."""
    person_id, link = _pending(client, sessions, workspace, "maria@example.com")
    for _ in range(3):  # a mail scanner, a link preview, the person
        page = client.get(link)
        assert page.status_code == 200 and "Confirm your subscription" in page.text
        assert page.text.count("<button") == 1 and page.text.count("<form") == 1
        assert re.search(rf'<form method="post" action="{re.escape(link)}">', page.text)
        assert "m***@example.com" in page.text
        assert page.headers["cache-control"] == "no-store"
    person = subscriber(sessions, "maria@example.com")
    assert person is not None and person.status == SubscriberStatus.PENDING
    assert len(history(sessions, person_id)) == 1
    time.sleep(0.3)
    assert not (workspace.outbox_dir / "welcome").exists()

    confirmed = client.post(link)
    assert confirmed.status_code == 200 and "You're subscribed" in confirmed.text
    person = subscriber(sessions, "maria@example.com")
    assert person is not None and person.status == SubscriberStatus.ACTIVE
    wait_for_mail(outbox_file(workspace, "welcome", "maria@example.com"))
    again = client.get(link)
    assert "already confirmed" in again.text and "<button" not in again.text


def test_a_confirmation_asked_before_the_latest_unsubscribe_is_refused(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    """Issue 10 item 12: a confirmation link asked for before the person's latest unsubscribe,
    even within the same second, is refused on GET and POST with a clear page."""
    person_id, link = _pending(client, sessions, workspace, "joe@example.com")
    assert client.post(link).status_code == 200  # active
    key = SecretKey.for_workspace(workspace)
    with sessions() as session, session.begin():
        joe = session.get(Subscriber, person_id)
        assert joe is not None
        person = Person(joe.id, joe.email, joe.email_key, joe.first_name)
        unsubscribe(session, "joe@example.com", reason="clicked unsubscribe", source="web")
        latest = session.scalars(
            select(StatusChange).where(StatusChange.subscriber_id == joe.id)
            .order_by(StatusChange.id.desc())
        ).first()  # fmt: skip
        assert latest is not None
        unsubscribed_at = latest.changed_at
    # Asked for 1 ms and 10 minutes before the unsubscribe.
    for before in (timedelta(milliseconds=1), timedelta(minutes=10)):
        old = f"/confirm/{confirm_token(key, person, at=(unsubscribed_at - before).timestamp())}"
        for response in (client.get(old), client.post(old)):
            assert response.status_code == 404
            assert "This link is not valid" in response.text and "sign up again" in response.text
    joe_now = subscriber(sessions, "joe@example.com")
    assert joe_now is not None and joe_now.status == SubscriberStatus.UNSUBSCRIBED
    # A confirmation asked for afterwards brings them back.
    asked = (unsubscribed_at + timedelta(milliseconds=2)).timestamp()
    assert client.post(f"/confirm/{confirm_token(key, person, at=asked)}").status_code == 200
    joe_now = subscriber(sessions, "joe@example.com")
    assert joe_now is not None and joe_now.status == SubscriberStatus.ACTIVE


def _complain(sessions: sessionmaker[Session], address: str) -> Person:
    with sessions() as session, session.begin():
        person = add_subscriber(session, address, first_name="Cora")
        move(session, person, SubscriberStatus.COMPLAINED, by=By.PROVIDER, reason="spam report",
             source="sendgrid")  # fmt: skip
        return Person(person.id, person.email, person.email_key, person.first_name)


def test_a_complained_address_gets_no_email_and_the_usual_page(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    """Issue 10 item 13: the public form sends a complained address nothing and answers it
    exactly as a new address (no telling who is on the list); no confirmation link, even one
    made after the complaint, makes it active again."""
    cora = _complain(sessions, "cora@example.com")
    neutral = sign_up(client, "new@example.com")
    page = sign_up(client, "cora@example.com")
    assert page.status_code == neutral.status_code == 200
    assert page.text == neutral.text
    new = subscriber(sessions, "new@example.com")
    assert new is not None
    wait_for_mail(outbox_file(workspace, "signup-confirm", new.email))
    sign_up(client, "later@example.com")  # its email is written after any for cora would be
    later = subscriber(sessions, "later@example.com")
    assert later is not None
    wait_for_mail(outbox_file(workspace, "signup-confirm", later.email))
    assert not outbox_file(workspace, "signup-confirm", "cora@example.com").exists()

    token = confirm_token(SecretKey.for_workspace(workspace), cora, at=time.time() + 1)
    for response in (client.get(f"/confirm/{token}"), client.post(f"/confirm/{token}")):
        assert response.status_code == 404
    cora_now = subscriber(sessions, "cora@example.com")
    assert cora_now is not None and cora_now.status == SubscriberStatus.COMPLAINED
    assert not (workspace.outbox_dir / "welcome").exists()


@pytest.mark.slow
def test_only_staff_bring_a_complained_address_back_with_the_consent_recorded(
    mailer: Mailer, workspace: Workspace, database_url: str, sessions: sessionmaker[Session]
) -> None:
    """Issue 10 item 13: `mailer subscribers resubscribe EMAIL --consent TEXT` makes a
    complained address active again, recording the consent (source, time, wording) and a
    history row; without the consent it refuses."""
    cora = _complain(sessions, "cora@example.com")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE__URL"] = database_url
    refused = mailer("subscribers", "resubscribe", "cora@example.com", env=env, process=True)
    assert refused.exit_code == 2 and "--consent" in refused.stderr
    blank = mailer(
        "subscribers", "resubscribe", "cora@example.com", "--consent", "  ", env=env, process=True
    )
    assert blank.exit_code == 2 and "empty" in blank.stderr
    words = "asked at the front desk on 2026-05-04"
    before = time.time()
    done = mailer(
        "subscribers", "resubscribe", "cora@example.com", "--consent", words, env=env, process=True
    )
    assert done.exit_code == 0, done.stderr
    assert "active again" in done.stdout and "complained" in done.stdout
    back = subscriber(sessions, "cora@example.com")
    assert back is not None and back.status == SubscriberStatus.ACTIVE
    assert (back.consent_source, back.consent_text) == ("staff", words)
    assert back.consent_at is not None and back.consent_at.timestamp() >= before - 1
    assert history(sessions, cora.subscriber_id)[-1] == (
        "complained",
        "active",
        f"resubscribed by staff: {words}",
    )


def test_a_bounced_address_may_confirm_again(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    """Issue 10 item 13 (bounced): the form sends a bounced address a confirmation; pressing
    its button proves the mailbox works again and records new consent."""
    with sessions() as session, session.begin():
        person = add_subscriber(session, "bo@example.com")
        move(
            session,
            person,
            SubscriberStatus.BOUNCED,
            by=By.PROVIDER,
            reason="bounce",
            source="sendgrid",
        )
    assert sign_up(client, "bo@example.com").status_code == 200
    mail = parse(wait_for_mail(outbox_file(workspace, "signup-confirm", "bo@example.com")))
    assert client.post(local(confirm_link(mail))).status_code == 200
    bo = subscriber(sessions, "bo@example.com")
    assert bo is not None and bo.status == SubscriberStatus.ACTIVE
    assert bo.consent_source == "web form"
