"""Issue 16's "done when", by real processes: a subscriber who confirms on the web gets step 0
at once and step 1 when due, each once; one who unsubscribes in between gets nothing more;
people imported without --welcome get nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.providers.outbox import outbox_file_name
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.sequences.test_cli import _recipients, _step
from tests.web.test_web_signup import (
    BASE,
    confirm_link,
    local,
    outbox_file,
    parse,
    sign_up,
    subscriber,
    text_of,
    wait_for_mail,
)
from tests.web_server import LiveServer, serve

pytestmark = pytest.mark.slow  # real `mailer` processes (1-5 s of imports each)

STEP_0, STEP_1 = "welcome-0-hello", "welcome-1-first-visit"


@pytest.fixture
def server(
    workspace: Workspace, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    monkeypatch.setenv("MAILER_WEB__BASE_URL", BASE)
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    yield from serve(workspace)


def _confirmed(
    client: httpx.Client, sessions: sessionmaker[Session], ws: Workspace, email: str
) -> str:
    """Signs ``email`` up and confirms; its address (outbox files are named by address)."""
    assert sign_up(client, email).status_code == 200
    person = subscriber(sessions, email.lower())
    assert person is not None
    mail = parse(wait_for_mail(outbox_file(ws, "signup-confirm", person.email)))
    assert client.post(local(confirm_link(mail))).status_code == 200
    return person.email


def test_a_web_signup_gets_step_0_at_once_and_step_1_when_due(
    server: LiveServer,
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    _step(workspace, STEP_0, "Welcome", "0s")
    _step(workspace, STEP_1, "Your first visit", "4s")
    for slug in (STEP_0, STEP_1):
        assert mailer("approve", slug).exit_code == 0
    patients = tmp_path / "patients.csv"
    patients.write_text("Email\nold@example.com\n", encoding="utf-8")
    assert mailer("subscribers", "import", str(patients)).exit_code == 0

    with httpx.Client(base_url=server.url, timeout=10) as client:
        maria = _confirmed(client, sessions, workspace, "maria@example.com")
        ana = _confirmed(client, sessions, workspace, "ana@example.com")
        # Step 0 goes at once, from the confirmation itself (no scheduler running here).
        to_maria = parse(wait_for_mail(outbox_file(workspace, STEP_0, maria)))
        step_0 = parse(wait_for_mail(outbox_file(workspace, STEP_0, ana)))
        assert client.post(local(step_0["List-Unsubscribe"].strip("<>"))).status_code == 200
        # Maria presses the booking button: the step's report counts it as a campaign's does.
        clicks = re.findall(re.escape(BASE) + r"/c/[A-Za-z0-9_-]+\.\d+", text_of(to_maria))
        assert clicks, text_of(to_maria)
        for link in clicks:
            assert client.get(local(link)).status_code == 302
    assert not (workspace.outbox_dir / "welcome").exists()  # step 0 is the welcome email now
    figures = mailer("report", STEP_0, "--json", process=True).json()
    assert (figures["sent"], figures["unsubscribed"]) == (2, 1)
    assert figures["clicked_unique"] == 1 and figures["cta_clicks"] >= 1

    time.sleep(4.1)
    env = dict(os.environ)
    for _ in range(2):  # a second pass (or cron firing twice) sends nothing again
        result = mailer("sequences", "run", "--json", env=env, process=True)
        assert result.exit_code == 0, result.stderr
    assert _recipients(workspace, STEP_0) == ["ana@example.com", "maria@example.com"]
    assert _recipients(workspace, STEP_1) == ["maria@example.com"]
    step_1_files = sorted(p.name for p in (workspace.outbox_dir / STEP_1).glob("*.eml"))
    assert step_1_files == [outbox_file_name(maria)]


def test_without_an_approved_step_0_the_welcome_email_goes_as_before_and_only_once(
    server: LiveServer, mailer: Mailer, workspace: Workspace, sessions: sessionmaker[Session]
) -> None:
    _step(workspace, STEP_0, "Welcome", "0s")  # a draft: not sent, and nobody is left unwelcomed
    with httpx.Client(base_url=server.url, timeout=10) as client:
        maria = _confirmed(client, sessions, workspace, "maria@example.com")
    wait_for_mail(outbox_file(workspace, "welcome", maria))
    assert _recipients(workspace, STEP_0) == []
    # Step 0 approved later (within the catch-up window) is not a second welcome for her.
    assert mailer("approve", STEP_0).exit_code == 0
    assert mailer("sequences", "run", "--json").exit_code == 0
    assert _recipients(workspace, STEP_0) == []
