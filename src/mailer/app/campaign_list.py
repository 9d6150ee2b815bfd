"""Every campaign at a glance: `mailer campaigns list` and the staff web app's campaign list.

Where each value comes from:

- slug, subject, send_on: the campaign file; a file that cannot be read is listed with status
  ``unreadable`` and the reason (naming its line) in ``note``.
- status: once a send has started, its run's state (``sending``, ``paused``, ``sent``);
  before, the file's, where ``approved`` means an approval is recorded
  (mailer.campaigns.approval). A file marked approved by hand only is a ``draft`` with a note:
  it is never sent as it stands.
- approved_by, approved_at: the current approval.
- next_slot: the slot that would send it if nothing changes, in the clinic's time zone: the
  slots of schedule.cron after ``now``, each taking the approved campaign with the oldest
  approval that is due (send_on not after the slot's local day), as mailer.schedule.slots
  picks at a slot. None for a draft or a started send.
- recipients, sent, clicked, sent_at: a started send's figures (clicked: distinct people).

The files are read once and the database is asked three questions (approvals, runs, figures),
however many campaigns there are; no campaign is compiled (an approval is checked against the
campaign as it stands when it is sent, not here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.approval import Approval, current_approvals
from mailer.campaigns.campaign import Campaign, load_campaign
from mailer.crontab import CrontabTrigger
from mailer.delivery.report import RunFigures, run_figures
from mailer.errors import MailerError
from mailer.store.models import SendState
from mailer.workspace import Workspace

RUN_STATUS: dict[str, str] = {
    SendState.SENDING: "sending",
    SendState.PAUSED: "paused",
    SendState.FINISHED: "sent",
}
NOT_APPROVED = "says status: approved, but was never approved with `mailer approve`; not sent"


@dataclass(frozen=True)
class CampaignSummary:
    """One campaign in the list; see the module docstring for where each value comes from."""

    slug: str
    subject: str
    status: str  # draft, approved, sending, paused, sent, unreadable
    approved_by: str | None = None
    approved_at: datetime | None = None
    send_on: date | None = None
    next_slot: datetime | None = None  # in schedule.timezone
    recipients: int | None = None
    sent: int | None = None
    clicked: int | None = None
    sent_at: datetime | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            key: value.isoformat() if isinstance(value, (date, datetime)) else value
            for key, value in asdict(self).items()
        }


def list_campaigns(
    workspace: Workspace, sessions: sessionmaker[Session], now: datetime
) -> list[CampaignSummary]:
    """Every campaign file of the workspace, by file name (dated slugs: oldest first)."""
    approvals = current_approvals(sessions)
    runs = run_figures(sessions)
    summaries: list[CampaignSummary] = []
    queue: list[tuple[datetime, str, Campaign]] = []
    for path in sorted(workspace.campaigns_dir.glob("*.md")):
        try:
            campaign = load_campaign(path)
        except MailerError as err:
            summaries.append(CampaignSummary(path.stem, "", "unreadable", note=err.message))
            continue
        run = runs.get(campaign.slug)
        approval = approvals.get(campaign.slug)
        summaries.append(_summary(campaign, approval, run))
        if run is None and approval is not None and campaign.status == "approved":
            queue.append((approval.approved_at, campaign.slug, campaign))
    schedule = workspace.settings.schedule
    trigger = CrontabTrigger(schedule.cron, schedule.timezone)
    slots = next_slots(trigger, [c for _, _, c in sorted(queue, key=lambda q: q[:2])], now)
    return [
        summary
        if summary.slug not in slots
        else CampaignSummary(**{**asdict(summary), "next_slot": slots[summary.slug]})
        for summary in summaries
    ]


def _summary(
    campaign: Campaign, approval: Approval | None, run: RunFigures | None
) -> CampaignSummary:
    common: dict[str, Any] = {
        "slug": campaign.slug,
        "subject": campaign.subject,
        "send_on": campaign.send_on,
        "approved_by": approval.approved_by if approval else None,
        "approved_at": approval.approved_at if approval else None,
    }
    if run is not None:
        return CampaignSummary(
            **common,
            status=RUN_STATUS.get(run.state, run.state),
            recipients=run.recipients,
            sent=run.sent,
            clicked=run.clicked_unique,
            sent_at=run.finished_at,
        )
    if campaign.status == "approved" and approval is None:
        return CampaignSummary(**common, status="draft", note=NOT_APPROVED)
    return CampaignSummary(**common, status=campaign.status)


def next_slots(
    trigger: CrontabTrigger, queue: Sequence[Campaign], now: datetime
) -> dict[str, datetime]:
    """The slot each queued campaign (oldest approval first) would go out at: each slot after
    ``now`` sends the first one that is due on its local day; a slot with none due is skipped
    to the first slot on the earliest send_on waiting."""
    waiting = list(queue)
    taken: dict[str, datetime] = {}
    slot = trigger.get_next_fire_time(None, now)
    while slot is not None and waiting:
        day = slot.astimezone(trigger.zone).date()
        due = next((c for c in waiting if c.send_on is None or c.send_on <= day), None)
        if due is not None:
            taken[due.slug] = slot
            waiting.remove(due)
            slot = trigger.get_next_fire_time(slot, slot)
            continue
        # Nobody is due yet: every one waiting has a later send_on.
        earliest = min(c.send_on for c in waiting if c.send_on is not None)
        start = datetime.combine(earliest, time(0), tzinfo=trigger.zone)
        slot = trigger.get_next_fire_time(slot, max(start, slot))  # strictly after: progress
    return taken
