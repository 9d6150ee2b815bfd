"""A campaign's figures from the ledger (and, once webhooks land, from recorded events)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.ledger import Ledger
from mailer.models import CampaignRun

# Filled from provider events and clicks by the web side; zero until those are recorded.
EVENT_FIGURES = (
    "delivered",
    "bounced",
    "opened_unique",
    "clicked_unique",
    "cta_clicks",
    "unsubscribed",
    "complaints",
)


def campaign_report(sessions: sessionmaker[Session], slug: str) -> dict[str, Any] | None:
    """The Contract's figures for one campaign, or None if it was never sent."""
    with sessions() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()
    if run is None:
        return None
    counts = Ledger(sessions).counts(run.id)
    figures: dict[str, Any] = {
        "campaign": slug,
        "state": run.state,
        "recipients": run.recipients,
        "sent": counts["sent"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "pending": counts["queued"] + counts["claimed"] + counts["sending"],
        "possible_duplicates": run.possible_duplicates,
    }
    figures.update(dict.fromkeys(EVENT_FIGURES, 0))
    if run.pause_reason:
        figures["pause_reason"] = run.pause_reason
    return figures
