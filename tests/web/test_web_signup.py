"""Signup with double opt-in over real HTTP (`GET/POST /subscribe`, `GET /confirm/{token}`),
with the outbox provider writing the emails as .eml files."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.providers.outbox import outbox_file_name
from mailer.store.models import StatusChange, Subscriber
from mailer.subscribers.service import add_subscriber, delete_subscriber, unsubscribe
from mailer.subscribers.signup import Person, confirm_token, consent_wording
from mailer.tokens import SecretKey, unsubscribe_token
from mailer.workspace import Workspace
from tests.web_server import LiveServer, serve

BASE = "https://news.summitspine.example"
CONSENT = consent_wording("Summit Upper Cervical Chiropractic")
CONFIRM_LINK = re.compile(re.escape(BASE) + r"/confirm/[A-Za-z0-9_-]+")


@pytest.fixture
def server(
    workspace: Workspace, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """The app with a public base_url set before it starts (links must name it, not loopback)."""
    monkeypatch.setenv("MAILER_WEB__BASE_URL", BASE)
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    yield from serve(workspace)


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def sign_up(client: httpx.Client, email: str, **fields: str) -> httpx.Response:
    form = {"email": email, "first_name": "Maria", "consent": "yes", "homepage": ""}
    form.update(fields)
    return client.post("/subscribe", data={k: v for k, v in form.items() if v is not None})


def outbox_file(workspace: Workspace, slug: str, address: str) -> Path:
    return workspace.outbox_dir / slug / outbox_file_name(address)


def wait_for_mail(path: Path, *, different_from: bytes = b"", timeout: float = 10) -> bytes:
    """The .eml once the background send has written it (and it is a new one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            data = path.read_bytes()
            if data != different_from:
                return data
        time.sleep(0.02)
    raise AssertionError(f"no email at {path}")


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def confirm_link(message: EmailMessage) -> str:
    links = set(CONFIRM_LINK.findall(text_of(message)))
    assert len(links) == 1, links
    assert links <= set(CONFIRM_LINK.findall(html_of(message)))
    return links.pop()


def local(link: str) -> str:
    """The path of a public link, to request it from the server under test."""
    assert link.startswith(BASE)
    return link[len(BASE) :]


def subscriber(sessions: sessionmaker[Session], email: str) -> Subscriber | None:
    with sessions() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email_key == email)).first()


def history(sessions: sessionmaker[Session], subscriber_id: int) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.execute(
            select(StatusChange.old_status, StatusChange.new_status, StatusChange.reason)
            .where(StatusChange.subscriber_id == subscriber_id)
            .order_by(StatusChange.id)
        )
        return [tuple(row) for row in rows]


def count_subscribers(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(Subscriber.id)).all())


def test_form_shows_consent_wording_and_hidden_honeypot(client: httpx.Client) -> None:
    page = client.get("/subscribe")
    assert page.status_code == 200
    html = page.text
    assert CONSENT in html
    assert '<label for="email">' in html and 'type="checkbox" id="consent"' in html
    honeypot = re.search(r'<div class="hp" aria-hidden="true">.*?</div>', html, re.S)
    assert honeypot and 'tabindex="-1"' in honeypot.group(0)
    assert 'autocomplete="off"' in honeypot.group(0)
    assert "#1d6fa5" in html  # the brand colour


def test_signup_confirm_and_welcome(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    before = time.time()
    page = sign_up(client, "Maria.Lopez@Example.com")
    assert page.status_code == 200 and "Check your inbox" in page.text

    person = subscriber(sessions, "maria.lopez@example.com")
    assert person is not None and person.status == "pending"
    assert person.first_name == "Maria"
    assert person.consent_source == "web form"
    assert person.consent_ip == "127.0.0.1"
    assert person.consent_text == CONSENT
    assert person.consent_at is not None and person.consent_at.timestamp() >= before - 1

    mail = parse(wait_for_mail(outbox_file(workspace, "signup-confirm", person.email)))
    assert mail["To"].addresses[0].addr_spec == "Maria.Lopez@example.com"
    assert "news@summitspine.example" in mail["From"]
    assert mail["Reply-To"] == "frontdesk@summitspine.example"
    unsubscribe_url = mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith(f"{BASE}/u/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "summitspine.example" in mail["List-Id"]
    assert "1200 Pearl Street" in text_of(mail) and "1200 Pearl Street" in html_of(mail)
    assert unsubscribe_url in text_of(mail)
    link = confirm_link(mail)

    confirmed = client.post(local(link))
    assert confirmed.status_code == 200 and "You're subscribed" in confirmed.text
    person = subscriber(sessions, "maria.lopez@example.com")
    assert person is not None and person.status == "active"
    assert history(sessions, person.id)[-1] == ("pending", "active", "confirmed by email")
    welcome_path = outbox_file(workspace, "welcome", person.email)
    welcome = parse(wait_for_mail(welcome_path))
    assert "Welcome" in welcome["Subject"] and "Hi Maria," in text_of(welcome)
    assert welcome["List-Unsubscribe"].startswith(f"<{BASE}/u/")
    assert "utm_campaign=welcome" in text_of(welcome)
    first_welcome = welcome_path.read_bytes()
    first_confirmation = outbox_file(workspace, "signup-confirm", person.email).read_bytes()

    again = client.get(local(link))
    assert again.status_code == 200 and "already confirmed" in again.text
    assert len(history(sessions, person.id)) == 2

    already = sign_up(client, "maria.lopez@example.com")
    assert already.status_code == 200 and "already subscribed" in already.text
    # A later signup's email is written after anything those requests could have sent.
    sign_up(client, "next@example.com")
    other = subscriber(sessions, "next@example.com")
    assert other is not None
    wait_for_mail(outbox_file(workspace, "signup-confirm", other.email))
    assert welcome_path.read_bytes() == first_welcome
    assert outbox_file(workspace, "signup-confirm", person.email).read_bytes() == first_confirmation


def test_unsubscribed_person_is_reactivated_only_by_the_confirmation(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    with sessions() as session:
        joe = add_subscriber(session, "joe@example.com", first_name="Joe")
        session.flush()
        joe_id = joe.id
        unsubscribe(session, "joe@example.com", reason="clicked unsubscribe", source="web")
        session.commit()
    key = SecretKey.for_workspace(workspace)
    joe_person = Person(joe_id, "joe@example.com", "joe@example.com", "Joe")
    old_link = f"/confirm/{confirm_token(key, joe_person, at=time.time() - 3600)}"

    page = sign_up(client, "joe@example.com")
    assert page.status_code == 200 and "Check your inbox" in page.text
    joe_now = subscriber(sessions, "joe@example.com")
    assert joe_now is not None and joe_now.status == "unsubscribed"
    mail = parse(wait_for_mail(outbox_file(workspace, "signup-confirm", "joe@example.com")))

    # A confirmation asked for before the unsubscribe cannot undo it.
    assert client.get(old_link).status_code == 404
    joe_now = subscriber(sessions, "joe@example.com")
    assert joe_now is not None and joe_now.status == "unsubscribed"

    assert client.post(local(confirm_link(mail))).status_code == 200
    joe_now = subscriber(sessions, "joe@example.com")
    assert joe_now is not None and joe_now.status == "active"
    assert joe_now.consent_source == "web form" and joe_now.consent_text == CONSENT
    assert history(sessions, joe_id)[-1] == (
        "unsubscribed",
        "active",
        "re-subscribed with confirmed consent",
    )
    wait_for_mail(outbox_file(workspace, "welcome", "joe@example.com"))


def test_deleted_address_gets_the_same_page_and_nothing_else(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    with sessions() as session:
        add_subscriber(session, "gone@example.com")
        delete_subscriber(session, "gone@example.com")
        session.commit()
    neutral = sign_up(client, "new@example.com").text
    page = sign_up(client, "gone@example.com")
    assert page.status_code == 200
    assert page.text == neutral
    assert subscriber(sessions, "gone@example.com") is None
    new = subscriber(sessions, "new@example.com")
    assert new is not None
    wait_for_mail(outbox_file(workspace, "signup-confirm", new.email))
    assert [p.name for p in (workspace.outbox_dir / "signup-confirm").iterdir()] == [
        "new@example.com.eml"
    ]


def test_honeypot_bad_address_and_missing_consent_store_nothing(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    bot = sign_up(client, "bot@example.com", homepage="http://spam.example")
    assert bot.status_code == 200 and "Check your inbox" in bot.text

    no_consent = sign_up(client, "maria@example.com", consent="")
    assert no_consent.status_code == 422
    assert "tick the box" in no_consent.text
    assert 'value="maria@example.com"' in no_consent.text  # what was typed is kept

    assert sign_up(client, "nul\x00@example.com").status_code == 422

    bad = sign_up(client, "maria@@example")
    assert bad.status_code == 422 and "valid email address" in bad.text

    time.sleep(0.3)  # a background send, if any had been queued, would have run
    assert count_subscribers(sessions) == 0
    assert not (workspace.outbox_dir / "signup-confirm").exists()


def test_too_many_signups_from_one_ip_get_429(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    assert sign_up(client, "not-an-address").status_code == 422  # typos are not counted
    for number in range(5):
        assert sign_up(client, f"person{number}@example.com").status_code == 200
    limited = sign_up(client, "maria@example.com")
    assert limited.status_code == 429
    assert "wait a few minutes" in limited.text
    assert subscriber(sessions, "maria@example.com") is None
    assert client.get("/subscribe").status_code == 200  # the form itself stays available


def test_pending_address_gets_the_confirmation_again_up_to_the_limit(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    previous = b""
    for _ in range(3):
        page = sign_up(client, "ana@example.com")
        assert page.status_code == 200 and "Check your inbox" in page.text
        ana = subscriber(sessions, "ana@example.com")
        assert ana is not None and ana.status == "pending"
        previous = wait_for_mail(
            outbox_file(workspace, "signup-confirm", ana.email), different_from=previous
        )
    assert count_subscribers(sessions) == 1
    assert sign_up(client, "ANA@example.com").status_code == 429


def test_tampered_or_foreign_confirm_token_is_404_and_changes_nothing(
    client: httpx.Client, sessions: sessionmaker[Session], workspace: Workspace
) -> None:
    sign_up(client, "ben@example.com")
    ben = subscriber(sessions, "ben@example.com")
    assert ben is not None
    link = local(
        confirm_link(parse(wait_for_mail(outbox_file(workspace, "signup-confirm", ben.email))))
    )
    token = link.rsplit("/", 1)[1]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    unsubscribe_kind = f"/confirm/{unsubscribe_token(SecretKey.for_workspace(workspace), ben.id)}"
    for bad in (f"/confirm/{flipped}", f"/confirm/{token[:-4]}", "/confirm/x", unsubscribe_kind):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "not valid" in response.text
    ben = subscriber(sessions, "ben@example.com")
    assert ben is not None and ben.status == "pending"
    assert not (workspace.outbox_dir / "welcome").exists()


def test_provider_failure_keeps_the_signup_and_logs_no_address(
    workspace: Workspace,
    database_url: str,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on: SMTP is refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("MAILER_DELIVERY__PROVIDER", "smtp")
    monkeypatch.setenv("MAILER_SMTP__HOST", "127.0.0.1")
    monkeypatch.setenv("MAILER_SMTP__PORT", str(closed_port))
    monkeypatch.setenv("MAILER_SMTP__SECURITY", "none")
    monkeypatch.setenv("MAILER_WEB__BASE_URL", BASE)
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    caplog.set_level(logging.WARNING, logger="mailer.web.signup")
    running = serve(workspace)
    live = next(running)
    try:
        page = httpx.post(
            f"{live.url}/subscribe",
            data={"email": "carla@example.com", "consent": "yes"},
            timeout=10,
        )
        assert page.status_code == 200 and "Check your inbox" in page.text
        deadline = time.monotonic() + 10
        while not any("not sent" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the failed send was not logged"
            time.sleep(0.05)
    finally:
        running.close()
    carla = subscriber(sessions, "carla@example.com")
    assert carla is not None and carla.status == "pending"
    assert "carla" not in caplog.text


def test_oversized_form_is_refused_and_stores_nothing(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    response = sign_up(client, "big@example.com", first_name="x" * 20_000)
    assert response.status_code == 413 and "too large" in response.text
    assert count_subscribers(sessions) == 0


def test_control_characters_in_the_name_are_dropped(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    assert sign_up(client, "dee@example.com", first_name="De\x00e\n Ann").status_code == 200
    dee = subscriber(sessions, "dee@example.com")
    assert dee is not None and dee.first_name == "De e Ann"
