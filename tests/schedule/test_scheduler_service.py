"""The scheduler process with real APScheduler and a real job store: slots fire on time and
once, a second scheduler waits and takes over, downtime is caught up within the grace and
reported beyond it, a stop leaves a send resumable. The lease and the stored job run on
PostgreSQL too.

Slots come every two seconds here (a seconds field crontab lacks, for tests only).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sending import SendJob
from mailer.crontab import CrontabTrigger
from mailer.schedule.service import JOB_TABLE, SLOT_JOB_ID, SchedulerService
from mailer.store.models import CampaignRun, Delivery, DeliveryState, SendState
from mailer.workspace import Workspace
from tests.delivery_helpers import fill_list
from tests.scheduler_helpers import outbox_count, slot_rows, staff_notices, write_campaign

pytestmark = pytest.mark.slow  # real APScheduler slots every two seconds, waited for

EVERY_TWO_SECONDS = CrontabTrigger("* * * * *", "America/Denver", second="*/2")
WEEKLY = CrontabTrigger("0 9 * * 2", "America/Denver")


def weekly_far_from_now() -> CrontabTrigger:
    """A weekly 09:00 slot on the weekday three days from today (Denver): its last real slot is
    four days back, so a stored run time from the last few hours is the only one due. (WEEKLY,
    Tuesdays, made the missed-slot tests fail on Tuesdays from 16:00 UTC: the real slot of the
    day was due too, and the newest due slot is the one that runs.)"""
    today = datetime.now(ZoneInfo("America/Denver"))
    crontab_day = (today.isoweekday() + 3) % 7  # crontab(5): 0 is Sunday
    return CrontabTrigger(f"0 9 * * {crontab_day}", "America/Denver")


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {check.__doc__ or check}")


@contextmanager
def running(service: SchedulerService) -> Iterator[SchedulerService]:
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(30)
        assert not thread.is_alive(), "the scheduler did not stop"


def make_service(
    workspace: Workspace,
    engine: Engine,
    sessions: sessionmaker[Session],
    trigger: CrontabTrigger = EVERY_TWO_SECONDS,
    ttl: float = 2.0,
) -> SchedulerService:
    return SchedulerService(
        workspace, engine, sessions, lease_ttl=timedelta(seconds=ttl), trigger=trigger
    )


@pytest.fixture
def listed(
    workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path
) -> tuple[Workspace, sessionmaker[Session]]:
    fill_list(sessions, tmp_path, 8)
    return workspace, sessions


def test_each_slot_sends_the_next_approved_campaign_then_tells_staff(listed, engine) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "week-one", approved_at="2026-11-19T08:00:00Z")
    write_campaign(workspace, sessions, "week-two", approved_at="2026-11-20T08:00:00Z")

    with running(make_service(workspace, engine, sessions)) as service:
        eventually(lambda: any(r.outcome == "nothing-approved" for r in service.reports))

    assert outbox_count(workspace, "week-one") == 8
    assert outbox_count(workspace, "week-two") == 8
    outcomes = [(row.outcome, row.campaign_slug) for row in slot_rows(sessions)]
    assert outcomes[:3] == [
        ("sent", "week-one"),
        ("sent", "week-two"),
        ("nothing-approved", ""),
    ]
    times = [row.slot_at for row in slot_rows(sessions)]
    assert all((b - a).total_seconds() == 2 for a, b in itertools.pairwise(times))
    assert all(t.second % 2 == 0 and t.microsecond == 0 for t in times)
    assert any("no issue was approved" in notice for notice in staff_notices(workspace))


@pytest.mark.both_databases
def test_two_schedulers_one_active_no_double_send_and_takeover(listed, engine) -> None:
    workspace, sessions = listed
    for n in range(3):
        write_campaign(workspace, sessions, f"issue-{n}", approved_at=f"2026-11-1{n}T08:00:00Z")
    first = make_service(workspace, engine, sessions)
    second = make_service(workspace, engine, sessions)
    overlap = []

    def watch() -> None:
        while not stop_watching.is_set():
            if first.active.is_set() and second.active.is_set():
                overlap.append(time.monotonic())
            time.sleep(0.01)

    stop_watching = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with running(first), running(second):
        eventually(lambda: first.active.is_set() or second.active.is_set())
        active, standby = (first, second) if first.active.is_set() else (second, first)
        eventually(lambda: outbox_count(workspace, "issue-0") == 8)
        assert not standby.active.is_set()

        active.stop()  # the active one goes away; the standby takes over and goes on
        eventually(lambda: standby.active.is_set(), timeout=10)
        eventually(lambda: outbox_count(workspace, "issue-2") == 8, timeout=20)
    stop_watching.set()
    watcher.join()

    assert overlap == []
    for n in range(3):
        assert outbox_count(workspace, f"issue-{n}") == 8
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CampaignRun)) == 3
        sent = session.scalar(select(func.count()).where(Delivery.state == DeliveryState.SENT))
        assert sent == 24
    sent_slots = [row.campaign_slug for row in slot_rows(sessions) if row.outcome == "sent"]
    assert sorted(sent_slots) == ["issue-0", "issue-1", "issue-2"]


@pytest.mark.both_databases
def test_a_lapsed_lease_is_taken_over_within_its_ttl(listed, engine) -> None:
    """A holder on another machine that stops renewing (no pid to check) loses the lease."""
    workspace, sessions = listed
    from mailer.store.leases import Lease

    ghost = Lease(sessions, owner="other-host:4242:dead", ttl=timedelta(seconds=3))
    assert ghost.try_acquire()
    service = make_service(workspace, engine, sessions, ttl=3.0)
    started = time.monotonic()
    with running(service):
        eventually(lambda: service.active.is_set(), timeout=15)
        waited = time.monotonic() - started
        assert not ghost.renew()  # it is no longer the ghost's
    assert 2.0 <= waited <= 6.0


def stored_job(engine: Engine, trigger: CrontabTrigger, next_run_time: datetime) -> None:
    """What a scheduler that went down before `next_run_time` left in the job store.

    Written through the job store alone: a running scheduler would process the job itself.
    """
    scheduler = BackgroundScheduler(timezone=UTC)
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    store.start(scheduler, "default")
    store.remove_all_jobs()
    store.add_job(
        Job(
            scheduler,
            id=SLOT_JOB_ID,
            func="mailer.schedule.service:weekly_slot",
            trigger=trigger,
            executor="default",
            args=(),
            kwargs={},
            name="weekly newsletter slot",
            misfire_grace_time=None,
            coalesce=False,
            max_instances=1,
            next_run_time=next_run_time,
        )
    )


def test_a_slot_missed_while_down_runs_once_when_back_within_the_grace(listed, engine) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "the-issue")
    missed_at = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    trigger = weekly_far_from_now()
    stored_job(engine, trigger, missed_at)

    with running(make_service(workspace, engine, sessions, trigger=trigger)) as service:
        eventually(lambda: len(service.reports) == 1)
        time.sleep(0.5)  # and nothing more

    [report] = service.reports
    assert (report.outcome, report.slot_at) == ("sent", missed_at)
    assert outbox_count(workspace, "the-issue") == 8
    [row] = slot_rows(sessions)
    assert row.slot_at == missed_at and row.outcome == "sent"
    # Restarting does not send it again: the job store moved on to the next Tuesday.
    with running(make_service(workspace, engine, sessions, trigger=trigger)) as again:
        eventually(lambda: again.active.is_set())
        time.sleep(0.5)
    assert again.reports == [] and len(slot_rows(sessions)) == 1


def test_a_slot_missed_beyond_the_grace_is_reported_not_sent(listed, engine) -> None:
    workspace, sessions = listed
    write_campaign(workspace, sessions, "the-issue")
    missed_at = (datetime.now(UTC) - timedelta(hours=7)).replace(microsecond=0)
    trigger = weekly_far_from_now()
    stored_job(engine, trigger, missed_at)

    with running(make_service(workspace, engine, sessions, trigger=trigger)) as service:
        eventually(lambda: len(service.reports) == 1)

    assert service.reports[0].outcome == "missed"
    assert outbox_count(workspace, "the-issue") == 0
    [row] = slot_rows(sessions)
    assert (row.slot_at, row.outcome) == (missed_at, "missed")
    [notice] = staff_notices(workspace)
    assert "missed" in notice and "misfire_grace (6h)" in notice


@pytest.mark.both_databases
def test_a_changed_cron_reschedules_the_stored_job(listed, engine) -> None:
    workspace, sessions = listed
    stored_job(
        engine, CrontabTrigger("0 9 * * 5", "America/Denver"), datetime(2030, 1, 4, 16, tzinfo=UTC)
    )
    lines: list[str] = []
    service = SchedulerService(
        workspace,
        engine,
        sessions,
        lease_ttl=timedelta(seconds=2),
        trigger=WEEKLY,
        say=lines.append,
    )
    with running(service):
        eventually(lambda: service.active.is_set())
    assert any("schedule changed" in line for line in lines)
    assert any("Tue" in line and "09:00" in line for line in lines if line.startswith("active"))


def test_stopping_mid_send_leaves_it_resumable_and_the_rest_goes_out_once(
    workspace: Workspace, sessions, engine, tmp_path, monkeypatch
) -> None:
    fill_list(sessions, tmp_path, 300)
    monkeypatch.setenv("MAILER_DELIVERY__RATE_PER_SECOND", "100")
    monkeypatch.setenv("MAILER_DELIVERY__BATCH_SIZE", "20")
    slow = Workspace(workspace.root)
    write_campaign(slow, sessions, "long-issue")
    service = make_service(slow, engine, sessions)
    with running(service):
        eventually(lambda: outbox_count(slow, "long-issue") >= 40)
        stopped_at = time.monotonic()
    assert time.monotonic() - stopped_at < 5  # stopped after the batch in flight

    with sessions() as session:
        run = session.scalars(select(CampaignRun)).one()
        assert run.state == SendState.SENDING
        queued = session.scalar(select(func.count()).where(Delivery.state == DeliveryState.QUEUED))
    assert 0 < queued < 300
    partial = outbox_count(slow, "long-issue")

    monkeypatch.setenv("MAILER_DELIVERY__RATE_PER_SECOND", "0")
    fast = Workspace(workspace.root)
    job = SendJob.open(fast, sessions, "long-issue")
    existing, created = job.start()
    assert not created
    outcome = job.run(existing)
    assert outbox_count(fast, "long-issue") == 300
    assert outcome.sent == 300 - partial


def test_the_feed_loop_new_article_to_draft_to_the_next_slot(
    workspace: Workspace, sessions, engine, tmp_path, monkeypatch
) -> None:
    """The scheduler polls the feed when it becomes active; an article published later is
    drafted by the next poll and, with feed.auto_approve, goes out at the following slot."""
    from tests.feed_server import POSTS, rss, serve_feed

    fill_list(sessions, tmp_path, 5)
    with serve_feed() as site:
        site.publish(rss(POSTS[:1]))
        monkeypatch.setenv("MAILER_FEED__URL", site.url)
        monkeypatch.setenv("MAILER_FEED__AUTO_APPROVE", "true")
        fed = Workspace(workspace.root)
        service = make_service(fed, engine, sessions)
        with running(service):
            eventually(lambda: len(site.requests) >= 1)  # polled on becoming active
            eventually(lambda: any(r.outcome == "nothing-approved" for r in service.reports))
            assert list(fed.campaigns_dir.glob("*.md")) == []  # the first poll drafts nothing

            site.publish(rss(POSTS[:2]))
            service.poll_feed()  # what the feed-poll job does every feed.poll_every
            [draft] = list(fed.campaigns_dir.glob("*.md"))
            eventually(lambda: outbox_count(fed, draft.stem) == 5)
    sent = [row.campaign_slug for row in slot_rows(sessions) if row.outcome == "sent"]
    assert sent == [draft.stem]
