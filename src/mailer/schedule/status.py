"""`mailer scheduler status`: the next slot, who runs it, what goes out, what the feed found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sequence_figures import next_due_steps
from mailer.crontab import CrontabTrigger
from mailer.feed.address import shown_url
from mailer.feed.report import feed_report
from mailer.schedule.jobs import JOB_TABLE, SLOT_JOB_ID, slot_trigger
from mailer.schedule.queue import next_due, scan_campaigns
from mailer.store.leases import Lease
from mailer.store.models import ScheduledSlot, utcnow
from mailer.workspace import Workspace


@dataclass
class SchedulerStatus:
    cron: str
    timezone: str
    misfire_grace_seconds: float
    next_slot: datetime | None
    stored_next_slot: datetime | None  # what the job store holds (overdue: runs at start)
    active: dict[str, Any] | None
    queue: list[dict[str, Any]] = field(default_factory=list)
    # status: approved in the file, never approved with `mailer approve`: not sent
    not_approved: list[str] = field(default_factory=list)
    # campaign files that cannot be read (skipped): file, message naming the line
    problems: list[dict[str, str]] = field(default_factory=list)
    recent_slots: list[dict[str, Any]] = field(default_factory=list)
    feed: dict[str, Any] | None = None
    # Each step of each series and when it next falls due (issue 16).
    sequences: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> dict[str, str] | None:
            if value is None:
                return None
            local = value.astimezone(CrontabTrigger(self.cron, self.timezone).zone)
            return {"local": local.isoformat(), "utc": value.astimezone(UTC).isoformat()}

        return {
            "schedule": {
                "cron": self.cron,
                "timezone": self.timezone,
                "misfire_grace_seconds": self.misfire_grace_seconds,
            },
            "next_slot": moment(self.next_slot),
            "stored_next_slot": moment(self.stored_next_slot),
            "active_scheduler": self.active,
            "queue": self.queue,
            "not_approved": self.not_approved,
            "problems": self.problems,
            "recent_slots": self.recent_slots,
            "feed": self.feed,
            "sequences": self.sequences,
        }


def scheduler_status(
    workspace: Workspace, sessions: sessionmaker[Session], now: datetime | None = None
) -> SchedulerStatus:
    now = now or utcnow()
    settings = workspace.settings
    trigger = slot_trigger(workspace)
    next_slot = trigger.get_next_fire_time(None, now)
    stored = _stored_next_run(sessions)
    if stored is not None and trigger.get_next_fire_time(None, stored) != stored:
        stored = None  # left by another cron: the scheduler reschedules it when it starts
    holder = Lease(sessions).holder()
    active = None
    if holder is not None:
        active = {
            "host": holder.host,
            "pid": holder.pid,
            "since": holder.acquired_at.isoformat(),
            "renewed_at": holder.renewed_at.isoformat(),
            "live": holder.is_live(now),
        }
    scan = scan_campaigns(workspace, sessions)
    queue = scan.approved
    slot_day = next_slot.astimezone(trigger.zone).date() if next_slot else None
    upcoming = next_due(queue, slot_day) if slot_day else None
    with sessions() as session:
        recent = session.scalars(
            select(ScheduledSlot).order_by(ScheduledSlot.slot_at.desc()).limit(5)
        ).all()
        recent_slots = [
            {
                "slot_at": row.slot_at.isoformat(),
                "outcome": row.outcome,
                "campaign": row.campaign_slug,
                "detail": row.detail,
                "started_after_seconds": row.started_after,
            }
            for row in recent
        ]
    return SchedulerStatus(
        cron=settings.schedule.cron,
        timezone=settings.schedule.timezone,
        misfire_grace_seconds=settings.schedule.misfire_grace.total_seconds(),
        next_slot=next_slot,
        stored_next_slot=stored,
        active=active,
        queue=[
            {
                "slug": item.slug,
                "subject": item.subject,
                "approved_at": item.approved_at.isoformat() if item.approved_at else None,
                "send_on": item.send_on.isoformat() if item.send_on else None,
                "next": upcoming is not None and item.slug == upcoming.slug,
            }
            for item in queue
        ],
        not_approved=scan.unconfirmed,
        problems=[{"file": str(p.path), "message": p.message} for p in scan.problems],
        recent_slots=recent_slots,
        feed=_feed(workspace, sessions),
        sequences=next_due_steps(workspace, sessions, now),
    )


def _stored_next_run(sessions: sessionmaker[Session]) -> datetime | None:
    """Read straight from APScheduler's table (no unpickling, no scheduler needed)."""
    try:
        with sessions() as session:
            value = session.execute(
                text(f"SELECT next_run_time FROM {JOB_TABLE} WHERE id = :id"),
                {"id": SLOT_JOB_ID},
            ).scalar()
    except SQLAlchemyError:
        return None
    return datetime.fromtimestamp(float(value), UTC) if value is not None else None


def _feed(workspace: Workspace, sessions: sessionmaker[Session]) -> dict[str, Any] | None:
    feed = workspace.settings.feed
    if not feed.url:
        return None
    document: dict[str, Any] = {
        "url": shown_url(feed.url),
        "mode": feed.mode,
        "poll_every_seconds": feed.poll_every.total_seconds(),
        "last_poll": None,
    }
    report = feed_report(sessions, feed.url, workspace.campaigns_dir)
    if report is not None:
        document["last_poll"] = report.as_dict()
    return document
