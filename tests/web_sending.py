"""A real send for the web tests: subscribers, a campaign file, the outbox, the .eml files.

The send uses a fresh Workspace for the same folder with MAILER_WEB__BASE_URL pointing at the
live server, so the links in the .eml files lead to it.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sending import SendJob
from mailer.delivery.providers.outbox import outbox_file_name
from mailer.store.db import open_database
from mailer.store.models import Subscriber
from mailer.subscribers.service import add_subscriber
from mailer.workspace import Workspace
from tests.delivery_helpers import CAMPAIGN, approve_file
from tests.web_server import LiveServer

PEOPLE = ("ana@example.com", "ben@example.com")


@dataclass
class Sent:
    workspace: Workspace
    sessions: sessionmaker[Session]
    slug: str
    ids: dict[str, int]

    def eml(self, address: str, slug: str | None = None) -> EmailMessage:
        path = self.workspace.outbox_dir / (slug or self.slug) / outbox_file_name(address)
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    def unsubscribe_url(self, address: str) -> str:
        header = str(self.eml(address)["List-Unsubscribe"])
        match = re.search(r"<(https?://[^>]+/u/[^>]+)>", header)
        assert match, header
        return match[1]

    def html(self, address: str) -> str:
        part = self.eml(address).get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())

    def click_urls(self, address: str) -> list[str]:
        return re.findall(r'href="(http[^"]*/c/[^"]+)"', self.html(address))

    def status(self, address: str) -> str:
        with self.sessions() as session:
            person = session.get(Subscriber, self.ids[address])
            assert person is not None
            return person.status

    def send(self, slug: str, body: str = CAMPAIGN) -> Path:
        """Write campaigns/<slug>.md and send it through the outbox; its outbox folder."""
        path = self.workspace.campaigns_dir / f"{slug}.md"
        path.write_text(body, encoding="utf-8")
        approve_file(self.workspace, self.sessions, path)
        job = SendJob.open(self.workspace, self.sessions, slug)
        run, _ = job.start()
        job.run(run)
        return self.workspace.outbox_dir / slug


def send_campaign(
    live_server: LiveServer,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    slug: str = "sleep-and-neck-pain",
    people: tuple[str, ...] = PEOPLE,
) -> Sent:
    monkeypatch.setenv("MAILER_WEB__BASE_URL", live_server.url)
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    workspace = Workspace(live_server.workspace.root)
    assert workspace.settings.web.base_url == live_server.url
    _, sessions = open_database(database_url)
    ids: dict[str, int] = {}
    with sessions() as session, session.begin():
        for address in people:
            ids[address] = add_subscriber(session, address, first_name="Reader").id
    sent = Sent(workspace, sessions, slug, ids)
    sent.send(slug)
    return sent


def undo_field(page: httpx.Response) -> dict[str, str]:
    """The undo form's hidden field on the page shown right after unsubscribing."""
    found = re.search(r'name="undo" value="([^"]+)"', page.text)
    assert found, "the page offers no undo"
    return {"undo": found[1]}
