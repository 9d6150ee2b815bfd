"""Automated series' figures, read only (issue 16): `mailer sequences list` and the next due
steps `mailer scheduler status` shows. Nothing here sends or changes the ledger.

"Due now" is what a pass would queue at this moment (mailer.sequences.due: due, in order,
within the catch-up window, outside min_gap), counted whether or not the sending window is
open; a step that is not approved counts the people waiting for its approval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sequences import series_steps
from mailer.campaigns.campaign import Campaign
from mailer.sequences.due import DueStep, due_now, next_due
from mailer.sequences.quiet import is_open, parse_window
from mailer.store.models import (
    CampaignRun,
    Delivery,
    DeliveryState,
    SequenceEnrolment,
    utcnow,
)
from mailer.workspace import Workspace


@dataclass(frozen=True)
class StepFigures:
    slug: str
    after: str
    approved: bool
    subject: str
    sent: int
    queued: int
    failed: int
    skipped: int
    due_now: int = 0


@dataclass(frozen=True)
class SeriesFigures:
    name: str
    enrolled: int
    left: int
    steps: list[StepFigures]


@dataclass(frozen=True)
class SequencesReport:
    """`mailer sequences list --json` (also `status`)."""

    series: list[SeriesFigures]
    catch_up: str
    min_gap: str = ""
    sending_window_open: bool = True  # False: due steps wait for [sequences] send_between

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sequences_report(
    workspace: Workspace, sessions: sessionmaker[Session], now: datetime | None = None
) -> SequencesReport:
    """Series, steps, enrolled, sent and due now per step (the ledger's counts), without
    sending."""
    moment = now or utcnow()
    settings = workspace.settings.sequences
    series: list[SeriesFigures] = []
    with sessions() as session:
        runs = {run.slug: run for run in session.scalars(select(CampaignRun))}
        for name, campaigns in series_steps(workspace).items():
            enrolled = _count(session, name, left=False)
            left = _count(session, name, left=True)
            steps = [
                DueStep(
                    c.slug,
                    c.after,
                    runs[c.slug].id if c.status == "approved" and c.slug in runs else None,
                )
                for c in campaigns
            ]
            other_runs = {slug: run.id for slug, run in runs.items()}
            due = due_now(
                session, name, steps, moment, settings.catch_up, settings.min_gap, other_runs
            )
            figures = [
                _figures(session, c, runs.get(c.slug), due.get(c.slug, 0)) for c in campaigns
            ]
            series.append(SeriesFigures(name, enrolled, left, figures))
    window = parse_window(settings.send_between)
    return SequencesReport(
        series,
        _duration(settings.catch_up),
        _duration(settings.min_gap),
        is_open(moment, workspace.settings.schedule.timezone, window),
    )


def next_due_steps(
    workspace: Workspace, sessions: sessionmaker[Session], now: datetime | None = None
) -> list[dict[str, Any]]:
    """For `mailer scheduler status`: each step of each series and when it next falls due for
    someone (UTC ISO time; None when nobody is waiting for it). The time is joined + after:
    a person held by min_gap or the sending window gets it later."""
    moment = now or utcnow()
    catch_up = workspace.settings.sequences.catch_up
    found: list[dict[str, Any]] = []
    with sessions() as session:
        runs = {run.slug: run.id for run in session.scalars(select(CampaignRun))}
        for name, campaigns in series_steps(workspace).items():
            for campaign in campaigns:
                step = DueStep(campaign.slug, campaign.after, runs.get(campaign.slug))
                when = next_due(session, name, step, moment, catch_up)
                found.append(
                    {
                        "series": name,
                        "step": campaign.slug,
                        "approved": campaign.status == "approved",
                        "next_due": when.isoformat() if when else None,
                    }
                )
    return found


def _count(session: Session, series: str, *, left: bool) -> int:
    gone = SequenceEnrolment.left_at.is_not(None) if left else SequenceEnrolment.left_at.is_(None)
    query = select(func.count()).where(SequenceEnrolment.sequence == series, gone)
    return int(session.scalar(query) or 0)


def _figures(
    session: Session, campaign: Campaign, run: CampaignRun | None, due: int
) -> StepFigures:
    counts: dict[str, int] = {}
    if run is not None:
        rows = session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.campaign_id == run.id)
            .group_by(Delivery.state)
        )
        counts = {state: int(n) for state, n in rows}
    return StepFigures(
        slug=campaign.slug,
        after=str(campaign.extra.get("after", "")),
        approved=campaign.status == "approved",
        subject=campaign.subject,
        sent=counts.get(DeliveryState.SENT, 0),
        queued=sum(counts.get(s, 0) for s in DeliveryState.OPEN),
        failed=counts.get(DeliveryState.FAILED, 0),
        skipped=counts.get(DeliveryState.SKIPPED, 0),
        due_now=due,
    )


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
