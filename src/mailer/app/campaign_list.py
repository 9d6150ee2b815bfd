"""Stand-in for the cli branch's campaign list (replaced at merge): every campaign's summary.

The interface is the real one (``list_campaigns`` and ``CampaignSummary`` with ``as_dict``);
this stand-in leaves out the next slot (None) and skips unreadable files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.approval import current_approvals
from mailer.campaigns.files import CampaignFiles
from mailer.delivery.report import campaign_report
from mailer.errors import CampaignError
from mailer.store.models import CampaignRun, SendState
from mailer.workspace import Workspace


@dataclass(frozen=True)
class CampaignSummary:
    slug: str
    subject: str
    status: str  # draft, approved, sending, paused, sent
    approved_by: str | None
    approved_at: datetime | None
    next_slot: datetime | None
    figures: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_campaigns(
    workspace: Workspace, sessions: sessionmaker[Session], now: datetime
) -> list[CampaignSummary]:
    files = CampaignFiles.of(workspace)
    approvals = current_approvals(sessions)
    with sessions() as session:
        runs = {
            row.slug: row.state
            for row in session.execute(select(CampaignRun.slug, CampaignRun.state))
        }
    found = []
    for slug in reversed(files.slugs()):
        try:
            campaign = files.load(slug)
        except CampaignError:
            continue
        status = campaign.status
        run_state = runs.get(slug)
        figures = None
        if run_state == SendState.FINISHED:
            status = "sent"
            report = campaign_report(sessions, slug, workspace.settings.delivery.provider)
            figures = report.as_dict() if report else None
        elif run_state is not None:
            status = run_state
        approval = approvals.get(slug)
        found.append(
            CampaignSummary(
                slug,
                campaign.subject,
                status,
                approval.approved_by if approval else None,
                approval.approved_at if approval else None,
                None,
                figures,
            )
        )
    return found
