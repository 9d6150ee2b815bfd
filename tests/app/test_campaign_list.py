"""`mailer campaigns list` and app.campaign_list: every campaign, where it stands, when it goes
out, what it did (issue 13 item 8), on a real workspace and database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.campaign_list import list_campaigns
from mailer.schedule.slots import SlotHandler
from mailer.store.db import open_database
from mailer.store.models import CampaignRun, Click, Subscriber
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import fill_list
from tests.scheduler_helpers import write_campaign

# Monday 2026-11-23, noon in Denver; the workspace's slot is Tuesdays 09:00 America/Denver.
NOW = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
TUESDAYS = [datetime(2026, 11, 24, 16, 0, tzinfo=UTC), datetime(2026, 12, 1, 16, 0, tzinfo=UTC)]
DEC_8 = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)


@pytest.fixture
def sessions(
    workspace: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sessionmaker[Session]]:
    """The workspace's own database (SQLite), as `mailer` opens it."""
    engine, factory = open_database(workspace.database_url)
    fill_list(factory, tmp_path_factory.mktemp("list"), 3)
    yield factory
    engine.dispose()


def _queue(workspace: Workspace, sessions: sessionmaker[Session]) -> None:
    """Three approved campaigns: the oldest approval waits for its send_on (Saturday Dec 5)."""
    write_campaign(workspace, sessions, "a-first", approved_at="2026-11-20T10:00:00Z")
    write_campaign(workspace, sessions, "b-second", approved_at="2026-11-21T10:00:00Z")
    write_campaign(
        workspace,
        sessions,
        "c-later",
        approved_at="2026-11-19T10:00:00Z",
        send_on=date(2026, 12, 5),
    )


def test_each_campaign_with_its_status_approval_next_slot_and_figures(
    mailer: Mailer, workspace: Workspace, sessions: sessionmaker[Session]
) -> None:
    _queue(workspace, sessions)
    write_campaign(workspace, sessions, "d-draft", status="draft")
    by_hand = write_campaign(workspace, sessions, "e-by-hand", status="draft")
    by_hand.write_text(by_hand.read_text().replace("status: draft", "status: approved"))
    (workspace.campaigns_dir / "f-broken.md").write_text("---\nsend_on: 2026-13-45\n---\nHi\n")
    write_campaign(workspace, sessions, "g-sent", approved_at="2026-11-18T10:00:00Z")
    assert mailer("send", "g-sent", "--yes").exit_code == 0
    with sessions() as session, session.begin():
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == "g-sent")).one()
        reader = session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
        assert reader is not None
        for _ in range(2):  # one person clicking twice is one person who clicked
            session.add(Click(campaign_id=run.id, subscriber_id=reader.id, link_index=0, url="x"))

    listed = {c.slug: c for c in list_campaigns(workspace, sessions, NOW)}

    assert list(listed) == [
        "a-first", "b-second", "c-later", "d-draft", "e-by-hand", "f-broken", "g-sent"
    ]  # fmt: skip
    assert {slug: c.status for slug, c in listed.items()} == {
        "a-first": "approved",
        "b-second": "approved",
        "c-later": "approved",
        "d-draft": "draft",
        "e-by-hand": "draft",  # typed into the file, never approved: not sent
        "f-broken": "unreadable",
        "g-sent": "sent",
    }
    assert listed["a-first"].next_slot == TUESDAYS[0]
    assert listed["b-second"].next_slot == TUESDAYS[1]
    assert listed["c-later"].next_slot == DEC_8  # the first slot on or after its send_on
    assert listed["a-first"].next_slot.utcoffset().total_seconds() == -7 * 3600  # Denver time
    assert listed["d-draft"].next_slot is None and listed["g-sent"].next_slot is None
    assert listed["a-first"].approved_by == "test:helpers"
    assert listed["a-first"].approved_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert listed["d-draft"].approved_by is None
    assert "never approved with `mailer approve`" in listed["e-by-hand"].note
    assert "f-broken.md:2" in listed["f-broken"].note
    sent = listed["g-sent"]
    assert (sent.recipients, sent.sent, sent.clicked) == (3, 3, 1)
    assert sent.sent_at is not None and listed["a-first"].recipients is None


def test_the_next_slot_is_the_slot_that_sends_it(
    workspace: Workspace, sessions: sessionmaker[Session]
) -> None:
    """The list's forecast and the scheduler's pick are one rule: firing the slots sends each
    campaign at the slot the list named."""
    _queue(workspace, sessions)
    forecast = {c.slug: c.next_slot for c in list_campaigns(workspace, sessions, NOW)}
    handler = SlotHandler(workspace, sessions, owner="test")
    fired = {}
    for slot in [*TUESDAYS, DEC_8]:
        report = handler.fire(slot, now=slot)
        fired[report.campaign_slug] = slot
    assert fired == forecast == {"a-first": TUESDAYS[0], "b-second": TUESDAYS[1], "c-later": DEC_8}


def test_mailer_campaigns_list_as_text_and_json(
    mailer: Mailer, workspace: Workspace, sessions: sessionmaker[Session]
) -> None:
    _queue(workspace, sessions)
    shown = mailer("campaigns", "list")
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "a-first  approved"  # the slug whole on its line, to copy
    assert lines[1] == "  A First"
    assert "approved by test:helpers on Fri 2026-11-20 03:00" in lines[2]  # in Denver time
    assert lines[-1].startswith("3 campaigns; times in America/Denver")

    document = mailer("campaigns", "list", "--json").json()
    assert [c["slug"] for c in document] == ["a-first", "b-second", "c-later"]
    assert set(document[0]) == {
        "slug", "subject", "status", "approved_by", "approved_at", "send_on", "next_slot",
        "recipients", "sent", "clicked", "sent_at", "note",
    }  # fmt: skip
    assert document[2]["send_on"] == "2026-12-05"
    assert document[0]["approved_at"] == "2026-11-20T10:00:00+00:00"
