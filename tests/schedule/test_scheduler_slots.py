"""What a slot does: the oldest due approved campaign goes out once;
nothing approved tells staff; missed slots are run once within the grace and reported beyond it.
Claims of a slot (two schedulers, a slot fired again, a dead claimer) run on PostgreSQL too.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.schedule.slots import SlotHandler, approved_queue
from mailer.store.models import SlotOutcome
from mailer.workspace import Workspace
from tests.delivery_helpers import fill_list
from tests.fakes.smtp_server import FakeSmtp
from tests.scheduler_helpers import outbox_count, slot_rows, staff_notices, write_campaign

SLOT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # Tuesday 09:00 in Denver


@pytest.fixture
def listed(
    workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path
) -> tuple[Workspace, sessionmaker[Session]]:
    fill_list(sessions, tmp_path, 12)
    return workspace, sessions


def handler(listed: tuple[Workspace, sessionmaker[Session]], owner: str = "a") -> SlotHandler:
    workspace, sessions = listed
    return SlotHandler(workspace, sessions, owner=owner)


def test_the_oldest_approved_campaign_goes_out_and_only_it(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "newer-issue", approved_at="2026-11-21T08:00:00Z")
    write_campaign(workspace, sessions, "older-issue", approved_at="2026-11-19T08:00:00Z")
    write_campaign(workspace, sessions, "still-a-draft", status="draft")

    report = handler(listed).fire(SLOT, now=SLOT)

    assert (report.outcome, report.campaign_slug, report.sent) == ("sent", "older-issue", 12)
    assert outbox_count(workspace, "older-issue") == 12
    assert outbox_count(workspace, "newer-issue") == 0
    assert [q.slug for q in approved_queue(workspace, sessions)] == ["newer-issue"]
    [row] = slot_rows(sessions)
    assert (row.outcome, row.campaign_slug) == ("sent", "older-issue")


def test_send_on_in_the_future_waits_for_its_day_in_local_time(listed) -> None:
    workspace, sessions = listed
    # The slot is Tuesday 09:00 in Denver, which is already the 24th in UTC but the 24th
    # locally too; a send_on of the 25th must wait, the 24th must not.
    write_campaign(workspace, sessions, "for-wednesday", send_on=date(2026, 11, 25))
    write_campaign(workspace, sessions, "for-today", send_on=date(2026, 11, 24), approved_at=None)

    report = handler(listed).fire(SLOT, now=SLOT)

    assert report.campaign_slug == "for-today"
    assert outbox_count(workspace, "for-wednesday") == 0


def test_send_on_is_judged_on_the_local_date_not_utc(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "for-the-25th", send_on=date(2026, 11, 25))
    late_evening = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 21:00 on the 24th in Denver

    report = handler(listed).fire(late_evening, now=late_evening)

    assert report.outcome == SlotOutcome.NOTHING_APPROVED


def test_nothing_approved_sends_nothing_and_tells_staff(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "a-draft", status="draft")
    write_campaign(workspace, sessions, "next-month", send_on=date(2026, 12, 15))

    report = handler(listed).fire(SLOT, now=SLOT)

    assert report.outcome == SlotOutcome.NOTHING_APPROVED
    assert outbox_count(workspace, "a-draft") == outbox_count(workspace, "next-month") == 0
    [notice] = staff_notices(workspace)
    assert "no issue was approved" in notice
    assert "next-month (send_on 2026-12-15)" in notice
    assert "mailer approve" in notice
    assert slot_rows(sessions)[0].outcome == "nothing-approved"


@pytest.mark.both_databases
def test_a_slot_is_handled_once_even_when_fired_again(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "first", approved_at="2026-11-19T08:00:00Z")
    write_campaign(workspace, sessions, "second", approved_at="2026-11-20T08:00:00Z")

    first = handler(listed, "a").fire(SLOT, now=SLOT)
    again = handler(listed, "b").fire(SLOT, now=SLOT + timedelta(seconds=5))

    assert first.campaign_slug == "first"
    assert again.detail == "already handled" and again.campaign_slug == "first"
    assert outbox_count(workspace, "second") == 0
    assert len(slot_rows(sessions)) == 1


@pytest.mark.both_databases
def test_two_schedulers_firing_the_same_slot_at_once_send_one_campaign_once(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "only-issue")
    write_campaign(workspace, sessions, "later-issue", approved_at="2026-11-21T08:00:00Z")
    barrier = threading.Barrier(4)
    reports = []

    def fire(owner: str) -> None:
        barrier.wait()
        reports.append(handler(listed, owner).fire(SLOT, now=SLOT))

    threads = [threading.Thread(target=fire, args=(f"s{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [winner] = [r for r in reports if r.detail != "already handled"]
    assert (winner.outcome, winner.campaign_slug) == ("sent", "only-issue")
    assert len(reports) == 4 and len(slot_rows(sessions)) == 1
    assert outbox_count(workspace, "only-issue") == 12
    assert outbox_count(workspace, "later-issue") == 0


def test_a_campaign_sent_by_hand_is_never_picked_by_a_slot(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "sent-by-hand")
    from mailer.app.sending import SendJob

    job = SendJob.open(workspace, sessions, "sent-by-hand")
    run, _ = job.start()
    job.run(run)

    report = handler(listed).fire(SLOT, now=SLOT)

    assert report.outcome == SlotOutcome.NOTHING_APPROVED
    assert outbox_count(workspace, "sent-by-hand") == 12


def test_after_downtime_the_newest_slot_within_the_grace_runs_once(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "first", approved_at="2026-11-19T08:00:00Z")
    write_campaign(workspace, sessions, "second", approved_at="2026-11-20T08:00:00Z")
    earlier = SLOT - timedelta(days=7)
    now = SLOT + timedelta(hours=2)  # schedule.misfire_grace is 6h in the sample config

    report = handler(listed).handle_run_times([earlier, SLOT], now=now)

    assert report is not None
    assert (report.outcome, report.campaign_slug) == ("sent", "first")
    assert report.missed == [earlier]
    assert outbox_count(workspace, "first") == 12 and outbox_count(workspace, "second") == 0
    rows = {row.slot_at: row.outcome for row in slot_rows(sessions)}
    assert rows == {earlier: "missed", SLOT: "sent"}
    [notice] = staff_notices(workspace)
    assert "1 newsletter slot missed" in notice and "within the grace and ran" in notice


def test_a_slot_beyond_the_grace_is_reported_and_skipped(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "waiting")
    now = SLOT + timedelta(hours=7)

    report = handler(listed).handle_run_times([SLOT], now=now)

    assert report is not None and report.outcome == SlotOutcome.MISSED
    assert outbox_count(workspace, "waiting") == 0
    [row] = slot_rows(sessions)
    assert row.outcome == "missed" and "7h late" in row.detail
    [notice] = staff_notices(workspace)
    assert "Nothing was sent for them" in notice and "Tue 2026-11-24 09:00 MST" in notice
    # Reported once: the same missed slot seen again (a restart) stays quiet.
    handler(listed, "b").handle_run_times([SLOT], now=now + timedelta(minutes=1))
    assert len(staff_notices(workspace)) == 1


def test_the_grace_comes_from_the_configuration(listed, monkeypatch) -> None:
    workspace, sessions = listed
    monkeypatch.setenv("MAILER_SCHEDULE__MISFIRE_GRACE", "30m")
    fresh = Workspace(workspace.root)
    write_campaign(fresh, sessions, "waiting")
    report = SlotHandler(fresh, listed[1], owner="a").handle_run_times(
        [SLOT], now=SLOT + timedelta(minutes=45)
    )
    assert report is not None and report.outcome == SlotOutcome.MISSED


@pytest.mark.both_databases
def test_a_slot_whose_scheduler_died_mid_way_is_finished_with_the_same_campaign(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "named-first", approved_at="2026-11-19T08:00:00Z")
    write_campaign(workspace, sessions, "other", approved_at="2026-11-20T08:00:00Z")
    dead = handler(listed, "gone-host:999999:abcd")
    assert dead._claim(SLOT, SLOT)
    dead._set(SLOT, SlotOutcome.CLAIMED, campaign_slug="named-first")

    reports = handler(listed, "new").resume_unfinished(now=SLOT + timedelta(minutes=3))

    assert [(r.outcome, r.campaign_slug) for r in reports] == [("sent", "named-first")]
    assert outbox_count(workspace, "named-first") == 12
    assert outbox_count(workspace, "other") == 0


@pytest.mark.both_databases
def test_a_fresh_claim_of_a_live_scheduler_is_left_alone(listed) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "busy")
    alive = handler(listed, "other-host:1:abcd")
    assert alive._claim(SLOT, SLOT)

    reports = handler(listed, "new").resume_unfinished(now=SLOT + timedelta(seconds=20))

    assert reports == []
    assert slot_rows(sessions)[0].owner == "other-host:1:abcd"


def test_a_campaign_that_cannot_start_fails_the_slot_loudly(listed, monkeypatch) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "broken")
    # Not a change to what goes out (that is refused as changed since approval: see
    # test_approval.py): links cannot be signed for a real provider without the key.
    monkeypatch.delenv("MAILER_SECRET_KEY")
    with FakeSmtp() as server:
        monkeypatch.setenv("MAILER_DELIVERY__PROVIDER", "smtp")  # the notice goes there too
        monkeypatch.setenv("MAILER_SMTP__HOST", "127.0.0.1")
        monkeypatch.setenv("MAILER_SMTP__PORT", str(server.port))
        monkeypatch.setenv("MAILER_SMTP__SECURITY", "none")
        keyless = Workspace(workspace.root)

        report = SlotHandler(keyless, sessions, owner="a").fire(SLOT, now=SLOT)

    assert report.outcome == SlotOutcome.FAILED
    assert slot_rows(sessions)[0].outcome == "failed"
    [notice] = [message.parsed() for message in server.messages]
    body = notice.get_body(("plain",))
    assert body is not None
    text = f"{notice['Subject']}\n{body.get_content()}"
    assert "could not be sent: broken" in text and "mailer send broken" in text
