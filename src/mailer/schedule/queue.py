"""The campaigns waiting for a slot, as the campaign files and the approvals say.

A campaign is queued when its file says ``status: approved``, an approval is recorded for it
(:mod:`mailer.campaigns.approval`) and no delivery run exists for its slug; the queue is in the
order of approval, oldest first. A file marked approved by hand (no approval recorded) is listed
apart and never sent; a file that cannot be read is listed with the message naming file and
line (the slot skips it). Used by the slot handler (:mod:`mailer.schedule.slots`) and by
`mailer scheduler status`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.approval import current_approvals
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.files import CampaignFiles
from mailer.errors import MailerError
from mailer.states import CampaignStatus
from mailer.store.models import CampaignRun
from mailer.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedCampaign:
    slug: str
    subject: str
    approved_at: datetime | None
    send_on: date | None
    path: Path

    def due_on(self, day: date) -> bool:
        return self.send_on is None or self.send_on <= day


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
        if campaign.status != CampaignStatus.APPROVED or campaign.slug in started:
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
