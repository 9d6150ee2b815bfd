"""`mailer scheduler run`: APScheduler wiring, the standby loop, a clean stop.

The process holds the scheduler lease (mailer.store.leases) before it opens APScheduler's job
store, as APScheduler 3 requires (a job store must never be shared by two running schedulers).
Jobs:

- "weekly-slot", in the SQLAlchemy job store (so a slot missed while down is still known at the
  next start): the CrontabTrigger from schedule.cron. The job is kept across restarts and only
  rescheduled when the configured cron or time zone changed.
- "feed-poll", in memory, every feed.poll_every while feed.url is set.
- "sequences", in memory, every SEQUENCES_EVERY: one pass of the automated series (issue 16;
  mailer.app.sequences): due steps queued and sent. Its idle cost is a few indexed queries.
- "resume", once at activation: slots and sends a previous scheduler left unfinished.

APScheduler 3 calls a job without its scheduled time, and our slot needs it (to name the slot,
to judge lateness against misfire_grace), so jobs run through an executor that hands the run
times over. coalesce is off and APScheduler's own misfire_grace_time is None: the slot handler
sees every missed run time and decides (the newest within the grace runs, the rest reported).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.mailing import notify_staff
from mailer.app.sending import work_on_active_runs
from mailer.app.sequences import run_pass
from mailer.crontab import CrontabTrigger
from mailer.feed.poll import poll_feed
from mailer.schedule.jobs import (
    FEED_JOB_ID,
    JOB_TABLE,
    RESUME_JOB_ID,
    SEQUENCES_EVERY,
    SEQUENCES_JOB_ID,
    SLOT_JOB_ID,
    slot_trigger,
)
from mailer.schedule.slots import SlotHandler, SlotReport
from mailer.states import PollStatus, SlotOutcome
from mailer.store.leases import DEFAULT_TTL, Lease
from mailer.store.models import utcnow
from mailer.words import plural
from mailer.workspace import Workspace

log = logging.getLogger(__name__)


def weekly_slot() -> None:
    """The job store's reference for the slot job; SchedulerService's executor runs it."""
    raise RuntimeError("the weekly slot runs through mailer's SchedulerService only")


class _ServiceExecutor(ThreadPoolExecutor):
    """Runs every job through the service, with its scheduled run times."""

    def __init__(self, service: SchedulerService) -> None:
        super().__init__(max_workers=3)
        self.service = service

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        alias = job._jobstore_alias
        job_id = job.id

        def work() -> list[JobExecutionEvent]:
            try:
                self.service.run_job(job_id, list(run_times))
            except BaseException as err:
                log.exception("job %s failed", job_id)
                return [
                    JobExecutionEvent(EVENT_JOB_ERROR, job_id, alias, run_times[-1], exception=err)
                ]
            return [JobExecutionEvent(EVENT_JOB_EXECUTED, job_id, alias, run_times[-1])]

        future = self._pool.submit(work)
        future.add_done_callback(lambda done: self._run_job_success(job_id, done.result()))


class SchedulerService:
    def __init__(
        self,
        workspace: Workspace,
        engine: Engine,
        sessions: sessionmaker[Session],
        *,
        lease_ttl: timedelta = DEFAULT_TTL,
        trigger: CrontabTrigger | None = None,
        say: Callable[[str], None] = log.info,
    ) -> None:
        self.workspace = workspace
        self.engine = engine
        self.sessions = sessions
        self.lease = Lease(sessions, ttl=lease_ttl)
        self.trigger = trigger or slot_trigger(workspace)
        self.say = say
        self.stop_event = threading.Event()  # the process is stopping (SIGTERM, Ctrl-C)
        self._step_down = threading.Event()  # this process lost the lease
        self.handler = SlotHandler(
            workspace, sessions, owner=self.lease.owner, should_stop=self._should_stop
        )
        self.renew_every = max(lease_ttl / 3, timedelta(milliseconds=100))
        self.standby_poll = max(lease_ttl / 6, timedelta(milliseconds=100))
        self.active = threading.Event()
        self.reports: list[SlotReport] = []

    def _should_stop(self) -> bool:
        return self.stop_event.is_set() or self._step_down.is_set()

    def stop(self) -> None:
        self.stop_event.set()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Until stopped: active while holding the lease, standby otherwise."""
        announced_standby = False
        while not self.stop_event.is_set():
            if self.lease.try_acquire():
                announced_standby = False
                self._run_active()
                continue
            if not announced_standby:
                holder = self.lease.holder()
                who = f"{holder.host} pid {holder.pid}" if holder else "another process"
                self.say(
                    f"standby: the active scheduler is {who}; taking over if it stops "
                    f"(within {int(self.lease.ttl.total_seconds())} s)"
                )
                announced_standby = True
            self.stop_event.wait(self.standby_poll.total_seconds())

    def _run_active(self) -> None:
        self._step_down.clear()
        scheduler = self._start_apscheduler()
        self.active.set()
        try:
            while not self.stop_event.wait(self.renew_every.total_seconds()):
                if not self.lease.renew():
                    self.say("lost the scheduler lease (another scheduler took over): standby")
                    self._step_down.set()
                    break
        finally:
            self.active.clear()
            # APScheduler 3's loop runs one last pass after shutdown() has closed the executors;
            # a slot due at that moment would be marked done in the job store, never run.
            # Pausing and detaching the job stores first leaves that pass nothing to do.
            scheduler.pause()
            for alias in ("default", "memory"):
                scheduler.remove_jobstore(alias)
            # Waits for a running slot: its send stops after the request in flight and stays
            # resumable (`mailer send`, `mailer worker` or the next active scheduler finish it).
            scheduler.shutdown(wait=True)
            if self.stop_event.is_set():
                self.lease.release()
                self.say("scheduler stopped")

    def _start_apscheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.engine, tablename=JOB_TABLE),
                "memory": MemoryJobStore(),
            },
            executors={"default": _ServiceExecutor(self)},
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1},
        )
        scheduler.start(paused=True)
        job = scheduler.get_job(SLOT_JOB_ID, jobstore="default")
        if job is None:
            scheduler.add_job(
                weekly_slot,
                trigger=self.trigger,
                id=SLOT_JOB_ID,
                name="weekly newsletter slot",
                jobstore="default",
            )
        elif job.trigger != self.trigger:
            self.say(f"schedule changed from {job.trigger} to {self.trigger}: rescheduled")
            job.reschedule(trigger=self.trigger)
        feed = self.workspace.settings.feed
        if feed.url:
            scheduler.add_job(
                _never_called,
                trigger="interval",
                seconds=feed.poll_every.total_seconds(),
                id=FEED_JOB_ID,
                name="feed poll",
                jobstore="memory",
                next_run_time=utcnow(),
            )
        scheduler.add_job(
            _never_called,
            trigger="interval",
            seconds=SEQUENCES_EVERY.total_seconds(),
            id=SEQUENCES_JOB_ID,
            name="automated series pass",
            jobstore="memory",
            next_run_time=utcnow(),
        )
        scheduler.add_job(
            _never_called, trigger="date", id=RESUME_JOB_ID, jobstore="memory", run_date=utcnow()
        )
        scheduler.resume()
        next_run = scheduler.get_job(SLOT_JOB_ID, jobstore="default").next_run_time
        self.say(f"active: next slot {self.handler.when(next_run) if next_run else 'none'}")
        return scheduler

    # -- the jobs ----------------------------------------------------------------------------

    def run_job(self, job_id: str, run_times: list[datetime]) -> None:
        if job_id == SLOT_JOB_ID:
            report = self.handler.handle_run_times(run_times)
            if report is not None:
                self.reports.append(report)
                self.say(_describe(report, self.handler))
        elif job_id == FEED_JOB_ID:
            self.poll_feed()
        elif job_id == RESUME_JOB_ID:
            self.resume()
        elif job_id == SEQUENCES_JOB_ID:
            self.run_sequences()

    def resume(self) -> None:
        """Finish what an earlier scheduler left: claimed slots, sends in progress."""
        for report in self.handler.resume_unfinished():
            self.reports.append(report)
            self.say(_describe(report, self.handler))
        if work_on_active_runs(self.workspace, self.sessions, should_stop=self._should_stop):
            self.say("resumed an unfinished send")

    def run_sequences(self) -> None:
        """One pass of the automated series; a failure is logged and the next pass retries."""
        try:
            report = run_pass(self.workspace, self.sessions)
        except Exception:  # a series problem (even the database) must never stop the slot
            log.exception("automated series pass failed")
            return
        if report.sent:
            self.say(f"automated series: {report.sent} step email(s) sent")

    def poll_feed(self) -> None:
        try:
            result = poll_feed(self.workspace, self.sessions, notify=notify_staff)
        except Exception:  # a feed problem (even the database) must never stop the slot
            log.exception("feed poll failed")
            return
        if result.status == PollStatus.ERROR:
            self.say(f"feed poll failed: {result.error} {result.hint}".strip())
        elif result.drafted or result.baseline:
            drafted = ", ".join(result.drafted) or "none"
            self.say(f"feed polled: {plural(result.found, 'new article')}; drafts: {drafted}")


def _never_called() -> None:
    raise RuntimeError("run by SchedulerService's executor")


def _describe(report: SlotReport, handler: SlotHandler) -> str:
    when = handler.when(report.slot_at)
    older = plural(len(report.missed), "older slot")
    missed = f" ({older} missed, staff told)" if report.missed else ""
    if report.outcome == SlotOutcome.SENT:
        sent = plural(report.sent, "message")
        return f"slot {when}: sent {report.campaign_slug} ({sent}){missed}"
    if report.outcome == SlotOutcome.NOTHING_APPROVED:
        return f"slot {when}: no approved campaign was due; staff told{missed}"
    return f"slot {when}: {report.outcome} {report.campaign_slug} {report.detail}{missed}".strip()
