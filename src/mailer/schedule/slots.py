"""What happens at a slot: the oldest approved campaign that is due goes out, once.

Three guards keep a campaign from going out twice, whatever happens:

1. Each slot time is a unique row in ``scheduled_slots``: two schedulers (or one that died and
   came back) cannot both handle the same slot.
2. The slot row names its campaign before the send starts, so a slot whose handler died is
   finished with the same campaign, never a second one.
3. A campaign with a delivery run (sent by any slot, or by `mailer send`) is never picked again,
   and the delivery ledger itself sends each recipient once.

Only campaigns approved as they stand go out (mailer.campaigns.approval): the picked campaign is
verified before its slot names it; one that changed since approval goes back to draft, staff
get a notice, and the slot considers the next one in the queue. A campaign file that cannot be
read (or whose name is not a slug: mailer.campaigns.files) is skipped with a message naming file
and line; staff are told once per content of it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.mailing import notify_staff
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.files import CampaignFiles
from mailer.errors import ApprovalError, MailerError
from mailer.store.leases import holder_is_dead_here
from mailer.store.models import CampaignFileNotice, CampaignRun, ScheduledSlot, SlotOutcome, utcnow
from mailer.workspace import Workspace

if TYPE_CHECKING:
    from mailer.app.sending import SendJob

log = logging.getLogger(__name__)

# A slot row still "claimed" this long after its handler took it was abandoned (a live handler
# names its campaign and records the outcome within seconds).
ABANDONED_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class QueuedCampaign:
    slug: str
    subject: str
    approved_at: datetime | None
    send_on: date | None
    path: Path

    def due_on(self, day: date) -> bool:
        return self.send_on is None or self.send_on <= day


@dataclass
class SlotReport:
    slot_at: datetime
    outcome: str
    campaign_slug: str = ""
    detail: str = ""
    sent: int = 0
    missed: list[datetime] = field(default_factory=list)


@dataclass(frozen=True)
class FileProblem:
    """A campaign file that cannot be read; ``message`` names the file and line."""

    path: Path
    message: str
    content_sha256: str


@dataclass
class CampaignScan:
    """What the campaign files hold for the scheduler."""

    approved: list[QueuedCampaign] = field(default_factory=list)  # oldest approval first
    # status: approved in the file without a recorded approval (hand edits): never sent
    unconfirmed: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)


def scan_campaigns(workspace: Workspace, sessions: sessionmaker[Session]) -> CampaignScan:
    """Approved campaigns not sent yet (file says approved and an approval is recorded), oldest
    approval first; files marked approved by hand; files that cannot be read (skipped)."""
    from mailer.campaigns.approval import current_approvals

    with sessions() as session:
        started = set(session.scalars(select(CampaignRun.slug)))
    approvals = current_approvals(sessions)
    scan = CampaignScan()
    queue: list[tuple[tuple[datetime, str], QueuedCampaign]] = []
    for path, campaign in CampaignFiles.of(workspace).scan():
        if isinstance(campaign, MailerError):
            log.warning("skipping a campaign file that cannot be read: %s", campaign.message)
            scan.problems.append(FileProblem(path, campaign.message, _sha256(path)))
            continue
        if campaign.status != "approved" or campaign.slug in started:
            continue
        if campaign.sequence:  # a step of a series goes out by its own clock, never at a slot
            continue
        approval = approvals.get(campaign.slug)
        if approval is None:
            scan.unconfirmed.append(campaign.slug)
            continue
        when = approval.approved_at
        queue.append(((when, campaign.slug), _queued(campaign, when, path)))
    scan.approved = [item for _, item in sorted(queue, key=lambda pair: pair[0])]
    return scan


def approved_queue(workspace: Workspace, sessions: sessionmaker[Session]) -> list[QueuedCampaign]:
    """Approved campaigns not sent yet, oldest approval first."""
    return scan_campaigns(workspace, sessions).approved


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _queued(campaign: Campaign, when: datetime | None, path: Path) -> QueuedCampaign:
    return QueuedCampaign(campaign.slug, campaign.subject, when, campaign.send_on, path)


def next_due(queue: Sequence[QueuedCampaign], day: date) -> QueuedCampaign | None:
    return next((item for item in queue if item.due_on(day)), None)


class SlotHandler:
    """Handles slots for one workspace and database; `owner` names the scheduler process."""

    def __init__(
        self,
        workspace: Workspace,
        sessions: sessionmaker[Session],
        *,
        owner: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.workspace = workspace
        self.sessions = sessions
        self.owner = owner
        self.should_stop = should_stop

    @property
    def zone_name(self) -> str:
        return self.workspace.settings.schedule.timezone

    def local(self, moment: datetime) -> datetime:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo(self.zone_name))

    # -- entry points ------------------------------------------------------------------------

    def handle_run_times(
        self, run_times: Sequence[datetime], now: datetime | None = None
    ) -> SlotReport | None:
        """APScheduler's due run times (more than one after downtime): the newest within
        schedule.misfire_grace runs, every other one is recorded as missed and reported."""
        now = now or utcnow()
        grace = self.workspace.settings.schedule.misfire_grace
        ordered = sorted(t.astimezone(UTC) for t in run_times)
        within = [t for t in ordered if now - t <= grace]
        fire = within[-1] if within else None
        missed = [t for t in ordered if t != fire]
        recorded = [t for t in missed if self._record_missed(t, now)]
        if recorded:
            self._notify_missed(recorded, fired=fire)
        if fire is None:
            return SlotReport(ordered[-1], SlotOutcome.MISSED, missed=recorded)
        report = self.fire(fire, now=now)
        report.missed = recorded
        return report

    def fire(self, slot_at: datetime, now: datetime | None = None) -> SlotReport:
        """Handle one slot: claim it, pick the campaign, send. A slot already handled by
        anyone is left alone (its report says so)."""
        slot_at = slot_at.astimezone(UTC)
        now = now or utcnow()
        if not self._claim(slot_at, now):
            return self._resume_claimed(slot_at)
        return self._send_for_slot(slot_at, chosen=None)

    def resume_unfinished(self, now: datetime | None = None) -> list[SlotReport]:
        """After a takeover or restart: slots whose handler died before recording what it did.

        A slot that already named its campaign is finished with that campaign; one that did
        not is handled now if still within the grace, else recorded as missed.
        """
        now = now or utcnow()
        grace = self.workspace.settings.schedule.misfire_grace
        with self.sessions() as session:
            rows = session.scalars(
                select(ScheduledSlot).where(ScheduledSlot.outcome == SlotOutcome.CLAIMED)
            ).all()
            pending = [(r.slot_at, r.campaign_slug, r.owner, r.handled_at) for r in rows]
        reports = []
        for slot_at, slug, owner, handled_at in pending:
            gone = holder_is_dead_here(owner) or now - handled_at > ABANDONED_AFTER
            if owner == self.owner or not gone or not self._take_over(slot_at, owner):
                continue
            if slug:
                reports.append(self._send_for_slot(slot_at, chosen=slug))
            elif now - slot_at <= grace:
                reports.append(self._send_for_slot(slot_at, chosen=None))
            else:
                self._set(slot_at, SlotOutcome.MISSED, detail="its scheduler stopped first")
                self._notify_missed([slot_at], fired=None)
        return reports

    # -- the slot ledger ---------------------------------------------------------------------

    def _claim(self, slot_at: datetime, now: datetime) -> bool:
        return self._insert(slot_at, now, SlotOutcome.CLAIMED)

    def _record_missed(self, slot_at: datetime, now: datetime) -> bool:
        detail = f"seen {_duration(now - slot_at)} late, beyond misfire_grace"
        return self._insert(slot_at, now, SlotOutcome.MISSED, detail)

    def _insert(self, slot_at: datetime, now: datetime, outcome: str, detail: str = "") -> bool:
        """The slot's row; False when it already has one (somebody handled or reported it)."""
        try:
            with self.sessions.begin() as session:
                session.add(
                    ScheduledSlot(
                        slot_at=slot_at,
                        outcome=outcome,
                        owner=self.owner,
                        handled_at=now,
                        detail=detail,
                    )
                )
        except IntegrityError:
            return False
        return True

    def _take_over(self, slot_at: datetime, previous_owner: str) -> bool:
        with self.sessions.begin() as session:
            result = session.execute(
                update(ScheduledSlot)
                .where(
                    ScheduledSlot.slot_at == slot_at,
                    ScheduledSlot.owner == previous_owner,
                    ScheduledSlot.outcome == SlotOutcome.CLAIMED,
                )
                .values(owner=self.owner)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def _set(self, slot_at: datetime, outcome: str, **values: object) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(ScheduledSlot)
                .where(ScheduledSlot.slot_at == slot_at)
                .values(outcome=outcome, **values)
                .execution_options(synchronize_session=False)
            )

    def _outcome(self, slot_at: datetime) -> str | None:
        with self.sessions() as session:
            return session.scalar(
                select(ScheduledSlot.outcome).where(ScheduledSlot.slot_at == slot_at)
            )

    def _resume_claimed(self, slot_at: datetime) -> SlotReport:
        with self.sessions() as session:
            row = session.scalars(
                select(ScheduledSlot).where(ScheduledSlot.slot_at == slot_at)
            ).one()
            return SlotReport(slot_at, row.outcome, row.campaign_slug, "already handled")

    # -- sending ----------------------------------------------------------------------------

    def _send_for_slot(self, slot_at: datetime, chosen: str | None) -> SlotReport:
        """Pick and send; whatever goes wrong before the send starts, the slot is not left
        claimed: it is recorded as failed and staff are told."""
        try:
            return self._pick_and_send(slot_at, chosen)
        except Exception as err:
            if self._outcome(slot_at) == SlotOutcome.CLAIMED:
                detail = f"unexpected error: {type(err).__name__}: {err}"
                self._set(slot_at, SlotOutcome.FAILED, detail=detail)
                notify_staff(
                    self.workspace,
                    "this week's slot failed",
                    f"The slot at {self.when(slot_at)} stopped with an error before sending:"
                    f"\n\n{detail}\n\nThe scheduler's log has the details. To send an approved "
                    "campaign now: `mailer send CAMPAIGN`.",
                )
            raise

    def _pick_and_send(self, slot_at: datetime, chosen: str | None) -> SlotReport:
        from mailer.app.sending import SendJob

        day = self.local(slot_at).date()
        slug = chosen
        job: SendJob | None = None
        if slug is None:
            scan = scan_campaigns(self.workspace, self.sessions)
            self._tell_about_problems(scan.problems)
            job = self._first_approved(slot_at, scan, day)
            if job is None:
                return self._nothing_approved(slot_at, scan)
            slug = job.campaign.slug
            # Named before the send starts: a handler that dies after this line is finished
            # with this campaign by whoever takes over, never with another.
            self._set(slot_at, SlotOutcome.CLAIMED, campaign_slug=slug)
        try:
            job = job or SendJob.open(self.workspace, self.sessions, slug)
            run, _created = job.start()
        except MailerError as err:
            self._set(slot_at, SlotOutcome.FAILED, detail=err.message)
            notify_staff(
                self.workspace,
                f"this week's issue could not be sent: {slug}",
                f"The slot at {self.when(slot_at)} picked {slug}, but it could not start:\n\n"
                f"{err.message}\n\n{err.hint or ''}\n\nFix it, then send it with "
                f"`mailer send {slug}` or wait for the next slot.",
            )
            return SlotReport(slot_at, SlotOutcome.FAILED, slug, err.message)
        started_after = (utcnow() - slot_at).total_seconds()
        self._set(slot_at, SlotOutcome.SENT, started_after=started_after)
        log.info("slot %s: sending %s to %d", self.when(slot_at), slug, run.recipients)
        outcome = job.run(run, should_stop=self.should_stop)
        return SlotReport(slot_at, SlotOutcome.SENT, slug, sent=outcome.sent)

    def _first_approved(self, slot_at: datetime, scan: CampaignScan, day: date) -> SendJob | None:
        """The oldest due campaign still approved as it stands; each one that changed since
        approval goes back to draft (verify_approved does it) and staff are told."""
        from mailer.app.sending import SendJob

        for item in scan.approved:
            if not item.due_on(day):
                continue
            try:
                job = SendJob.open(self.workspace, self.sessions, item.slug)
                _ = job.approved
            except ApprovalError as err:
                log.warning("slot %s: %s", self.when(slot_at), err.message)
                notify_staff(
                    self.workspace,
                    f"not sent: {item.slug} changed since approval",
                    f"The slot at {self.when(slot_at)} picked {item.slug}, but it is not "
                    f"approved as it stands now, so it was not sent:\n\n{err.message}\n\n"
                    f"{err.hint or ''}\n\nThe slot went on to the next approved campaign "
                    "that is due, if any.",
                )
                continue
            except MailerError as err:  # the file went away or became unreadable meanwhile
                log.warning("slot %s: skipping %s: %s", self.when(slot_at), item.slug, err)
                continue
            return job
        return None

    def _tell_about_problems(self, problems: Sequence[FileProblem]) -> None:
        """One notice for the files staff have not been told about in their present content."""
        new = []
        for problem in problems:
            try:
                with self.sessions.begin() as session:
                    session.add(
                        CampaignFileNotice(
                            file_name=problem.path.name[:255],
                            content_sha256=problem.content_sha256,
                            message=problem.message,
                        )
                    )
            except IntegrityError:
                continue  # told already (by this scheduler or another)
            new.append(problem)
        if not new:
            return
        listed = "\n\n".join(problem.message for problem in new)
        notify_staff(
            self.workspace,
            f"{len(new)} campaign file(s) cannot be read",
            f"These campaign files cannot be read, so the scheduler skips them (the others go "
            f"on):\n\n{listed}\n\nFix the line named, then check the file with "
            "`mailer check CAMPAIGN`. You get this email once per change of the file.",
        )

    def _nothing_approved(self, slot_at: datetime, scan: CampaignScan) -> SlotReport:
        detail = "no approved campaign was due"
        self._set(slot_at, SlotOutcome.NOTHING_APPROVED, detail=detail)
        queue = approved_queue(self.workspace, self.sessions)
        later = "".join(
            f"\n  {item.slug} (send_on {item.send_on.isoformat()})"
            for item in queue
            if item.send_on
        )
        by_hand = "".join(f"\n  {slug}" for slug in scan.unconfirmed)
        notify_staff(
            self.workspace,
            "no issue was approved for this week's slot",
            f"The newsletter slot at {self.when(slot_at)} found no approved campaign that is "
            "due, so nothing was sent.\n\n"
            + (f"Approved, but for a later date:{later}\n\n" if later else "")
            + (
                "Marked status: approved in the file but never approved with `mailer approve` "
                f"(run it for each):{by_hand}\n\n"
                if by_hand
                else ""
            )
            + "Draft one with `mailer draft ARTICLE`, check it with `mailer check CAMPAIGN`, "
            "approve it with `mailer approve CAMPAIGN`; it goes out at the next slot, or at once "
            "with `mailer send CAMPAIGN`.",
        )
        return SlotReport(slot_at, SlotOutcome.NOTHING_APPROVED, detail=detail)

    def _notify_missed(self, slots: Sequence[datetime], fired: datetime | None) -> None:
        listed = "\n".join(f"  {self.when(t)}" for t in slots)
        grace = _duration(self.workspace.settings.schedule.misfire_grace)
        after = (
            f"The slot at {self.when(fired)} was within the grace and ran."
            if fired
            else "Nothing was sent for them."
        )
        notify_staff(
            self.workspace,
            f"{len(slots)} newsletter slot(s) missed",
            "The scheduler was not running at these slots, and came back more than "
            f"schedule.misfire_grace ({grace}) later, so they were skipped:\n{listed}\n\n"
            f"{after} To send an approved campaign now: `mailer send CAMPAIGN`.",
        )

    def when(self, moment: datetime) -> str:
        local = self.local(moment)
        return f"{local:%a %Y-%m-%d %H:%M %Z} ({moment.astimezone(UTC):%H:%M} UTC)"


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
