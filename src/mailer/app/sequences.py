"""Automated series, wired (issue 16): a pass queues the due steps and sends them.

A pass (``run_pass``; `mailer sequences run`, the scheduler every minute, and the web server
right after a signup is confirmed) does, for each series found in the campaign files:

1. each step approved as it stands (``verify_approved``, the same check as a weekly send) gets
   its campaign run with the approved message (``step_run``); a step that is not approved is
   left out of this pass (later steps wait behind it while it could still come, see
   ``mailer.sequences.due``) and staff are told once per content of its file;
2. the due (person, step) rows are added to the ledger (``queue_due``), once and in order;
3. each step's run with rows to send goes through ``send_run``, the weekly issue's send path:
   the same claims, leases, retries, rate limit and pauses.

Outside the clinic's sending window (``[sequences] send_between``, local time) a pass does
nothing: due steps wait for it (mailer.sequences.quiet).

2 and 3 repeat while a round added rows (at most once per step), so a person due for two
steps gets both in one pass, the second only after the first was sent (with ``[sequences]
min_gap`` 0s; by default the second waits 12 hours after the first, as after any email).

Enrolment happens where people become active: `mailer subscribers add`, the staff page's "Add",
the web signup's confirmation (``enrol_person``), `subscribers import --welcome`
(``enrol_imported``) and `mailer sequences enroll NAME --existing` (``enrol_existing``). When
the signup sent the built-in welcome email instead of step 0 (none approved yet),
``mark_welcomed`` records it, so step 0 is never a second welcome. The figures (`mailer
sequences list`, `scheduler status`) are mailer.app.sequence_figures'.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.mailing import notify_staff
from mailer.app.sending import send_run
from mailer.campaigns.approval import verify_approved
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.files import CampaignFiles
from mailer.delivery.ledger import Ledger
from mailer.delivery.ledger.enqueue import template_to_json
from mailer.errors import ApprovalError, MailerError
from mailer.sequences import enrolment
from mailer.sequences.due import (
    DueStep,
    ordered,
    queue_due,
    step_run,
    waiting_steps,
)
from mailer.sequences.enrolment import ENROLMENTS
from mailer.sequences.quiet import is_open, parse_window
from mailer.store.db import insert_ignoring_duplicates, transaction
from mailer.store.models import (
    CampaignFileNotice,
    CampaignRun,
    SendState,
    SequenceEnrolment,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from mailer.workspace import Workspace

log = logging.getLogger(__name__)

WELCOME = enrolment.WELCOME
# One pass at a time in a process: two web confirmations a moment apart ran two passes, and the
# second could leave its newcomer's step 0 to the next minute (1 CI run in 4); passes are ms.
_ONE_PASS_AT_A_TIME = threading.Lock()


@dataclass
class StepPass:
    """What one pass did with one step."""

    slug: str
    after: str
    approved: bool
    queued: int = 0
    sent: int = 0
    failed: int = 0
    paused: str = ""


@dataclass
class PassReport:
    """`mailer sequences run --json`: per series, per step."""

    at: str
    series: dict[str, list[StepPass]] = field(default_factory=dict)
    quiet: bool = False  # outside [sequences] send_between: nothing queued or sent

    @property
    def sent(self) -> int:
        return sum(step.sent for steps in self.series.values() for step in steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "quiet": self.quiet,
            "sent": self.sent,
            "series": {name: [asdict(s) for s in steps] for name, steps in self.series.items()},
        }


def series_steps(workspace: Workspace) -> dict[str, list[Campaign]]:
    """Every series in the campaign files, its steps in order (after, then slug). Files that
    cannot be read are the scheduler's to report (it skips them too)."""
    found: dict[str, list[Campaign]] = {}
    for _path, campaign in CampaignFiles.of(workspace).scan():
        if isinstance(campaign, Campaign) and campaign.sequence:
            found.setdefault(campaign.sequence, []).append(campaign)
    by_place = {
        name: sorted(steps, key=lambda c: (c.after, c.slug)) for name, steps in found.items()
    }
    return dict(sorted(by_place.items()))


def run_pass(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    *,
    now: Callable[[], datetime] = utcnow,
    only: str | None = None,
) -> PassReport:
    """One pass over every series (or ``only`` that one): queue what is due, send it."""
    with _ONE_PASS_AT_A_TIME:
        report = PassReport(at=now().isoformat())
        settings = workspace.settings
        catch_up, min_gap = settings.sequences.catch_up, settings.sequences.min_gap
        window = parse_window(settings.sequences.send_between)
        if not is_open(now(), settings.schedule.timezone, window):
            report.quiet = True  # due steps wait for the window (within catch_up, so none is lost)
            return report
        ledger = Ledger(sessions)
        for name, campaigns in series_steps(workspace).items():
            if only is not None and name != only:
                continue
            steps, passes, maybe_due = _prepare_steps(
                workspace, sessions, name, campaigns, now(), catch_up, min_gap
            )
            report.series[name] = passes
            by_slug = {p.slug: p for p in passes}
            for round_ in range(len(steps) + 1):
                added: dict[str, int] = {}
                if round_ > 0 or maybe_due:  # an idle pass asked once already (_prepare_steps)
                    with transaction(sessions) as session:
                        added = queue_due(session, name, steps, now(), catch_up, min_gap)
                for slug, count in added.items():
                    by_slug[slug].queued += count
                sent_any = _send_open_runs(workspace, ledger, sessions, steps, by_slug)
                if not added and not sent_any:
                    break
        return report


def _prepare_steps(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    series: str,
    campaigns: list[Campaign],
    moment: datetime,
    catch_up: timedelta,
    min_gap: timedelta,
) -> tuple[list[DueStep], list[StepPass], bool]:
    """Each step with its run, or None when it is not approved (staff told once), and whether
    anyone may be due (someone waits for a step, or a step's run was just created).

    Compiling and checking a step (``verify_approved``) cost 6-20 ms a step under this machine's
    load (an idle pass of 3 steps: 27-77 ms with it, 8 ms without; bench/sequences.py), and a
    pass runs every minute, so a step with a run is verified only when someone is waiting for it
    now; its run holds the message as last approved, which is what it sends.
    """
    with sessions() as session:
        found = session.execute(
            select(CampaignRun.slug, CampaignRun.id).where(
                CampaignRun.slug.in_([c.slug for c in campaigns])
            )
        )
        runs: dict[str, int] = {slug: run_id for slug, run_id in found}
    tentative = [
        DueStep(c.slug, c.after, runs.get(c.slug) if c.status == "approved" else None)
        for c in campaigns
    ]
    with sessions() as session:
        waiting = waiting_steps(session, series, tentative, moment, catch_up, min_gap)
    maybe_due = bool(waiting)
    steps: list[DueStep] = []
    passes: list[StepPass] = []
    for campaign, step in zip(campaigns, tentative, strict=True):
        after = str(campaign.extra.get("after", ""))
        run_id = step.run_id
        if campaign.status != "approved":
            _tell_once(workspace, sessions, campaign, _not_approved(campaign))
        elif run_id is None or step.slug in waiting:
            maybe_due = maybe_due or run_id is None
            run_id = _verified_run(workspace, sessions, campaign)
        steps.append(DueStep(campaign.slug, campaign.after, run_id))
        passes.append(StepPass(campaign.slug, after, approved=run_id is not None))
    return ordered(steps), passes, maybe_due


def _not_approved(campaign: Campaign) -> ApprovalError:
    return ApprovalError(
        f"{campaign.slug!r} is a draft and has not been approved",
        hint=f"check and approve it: mailer approve {campaign.slug}",
    )


def _verified_run(
    workspace: Workspace, sessions: sessionmaker[Session], campaign: Campaign
) -> int | None:
    """The step's run with its message as approved now; None (staff told) if it is not."""
    try:
        verified = verify_approved(workspace, sessions, campaign)
    except ApprovalError as err:
        _tell_once(workspace, sessions, campaign, err)
        return None
    template = verified.rendered.message_template()
    return step_run(
        sessions,
        campaign.slug,
        template.subject,
        template_to_json(template),
        [asdict(link) for link in verified.rendered.links],
        verified.fingerprint,
    )


def _send_open_runs(
    workspace: Workspace,
    ledger: Ledger,
    sessions: sessionmaker[Session],
    steps: list[DueStep],
    by_slug: dict[str, StepPass],
) -> bool:
    """Send every step run with rows to send (in step order); True if any message went."""
    ids = [step.run_id for step in steps if step.run_id is not None]
    with sessions() as session:
        open_runs = {
            run.id: run
            for run in session.scalars(
                select(CampaignRun).where(
                    CampaignRun.id.in_(ids), CampaignRun.state != SendState.FINISHED
                )
            )
        }
    sent_any = False
    for step in steps:
        run = open_runs.get(step.run_id or 0)
        if run is None:
            continue
        if run.state == SendState.PAUSED:
            by_slug[step.slug].paused = run.pause_reason
            continue
        try:
            outcome = send_run(workspace, ledger, run)
        except ApprovalError as err:  # revoked between the check and the send: next pass
            log.warning("%s", err.message)
            continue
        by_slug[step.slug].sent += outcome.sent
        by_slug[step.slug].failed += outcome.failed
        if outcome.paused_reason:
            by_slug[step.slug].paused = outcome.paused_reason
        sent_any = sent_any or outcome.sent > 0
    return sent_any


def _tell_once(
    workspace: Workspace, sessions: sessionmaker[Session], campaign: Campaign, err: MailerError
) -> None:
    """Staff hear once per content of the step's file that it is skipped for want of approval."""
    digest = hashlib.sha256(
        campaign.path.read_bytes() if campaign.path else campaign.body.encode()
    ).hexdigest()
    try:
        with transaction(sessions) as session:
            session.add(
                CampaignFileNotice(
                    file_name=f"{campaign.slug}.md (step not approved)"[:255],
                    content_sha256=digest,
                    message=err.message,
                )
            )
    except IntegrityError:
        return  # told already
    notify_staff(
        workspace,
        f"Step {campaign.slug!r} of the {campaign.sequence!r} series is not sent: not approved",
        f"{err.message}.\n\nWhat to do: {err.hint or ''}\n\nUntil it is approved, people who "
        "reach this step do not get it, and the series' later steps wait for them while this "
        "one could still come. You get this email once per change of the file.",
    )


# -- enrolment --------------------------------------------------------------------------------


def enrol_person(session: Session, subscriber_id: int, *, source: str) -> bool:
    """A person who just became active enters the welcome series (the caller's transaction)."""
    return enrolment.enrol(session, subscriber_id, utcnow(), source=source)


def mark_welcomed(sessions: sessionmaker[Session], subscriber_id: int) -> None:
    """The built-in welcome email went to this person (signup, no approved step 0 yet): a step
    0 approved later is not sent to them as a second welcome (mailer.sequences.due)."""
    with transaction(sessions) as session:
        session.execute(
            update(SequenceEnrolment)
            .where(
                SequenceEnrolment.subscriber_id == subscriber_id,
                SequenceEnrolment.sequence == WELCOME,
                SequenceEnrolment.welcomed_at.is_(None),
            )
            .values(welcomed_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def enrol_imported(sessions: sessionmaker[Session], since: datetime) -> int:
    """`subscribers import --welcome`: the people the import added (active, created since
    ``since``) enter the welcome series. Returns how many."""
    with transaction(sessions) as session:
        people = select(
            Subscriber.id,
            literal(WELCOME),
            literal(utcnow(), type_=ENROLMENTS.c.joined_at.type),
            literal("import"),
        ).where(Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.created_at >= since)
        statement = insert_ignoring_duplicates(
            session,
            ENROLMENTS,
            "subscriber_id",
            "sequence",
        ).from_select(["subscriber_id", "sequence", "joined_at", "source"], people)
        return len(session.execute(statement.returning(SequenceEnrolment.subscriber_id)).all())


def enrol_existing(sessions: sessionmaker[Session], series: str, tag: str | None = None) -> int:
    """`mailer sequences enroll NAME --existing [--tag T]`: everyone active now, from now."""
    with transaction(sessions) as session:
        return enrolment.enrol_existing(session, series, utcnow(), tag=tag)
