"""The feed's last poll and the drafts it left waiting, for `mailer scheduler status`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.campaign import load_campaign
from mailer.campaigns.files import CampaignFiles
from mailer.errors import CampaignError
from mailer.feed.address import shown_url
from mailer.states import CampaignStatus, FeedEntryState
from mailer.store.models import CampaignRun, FeedEntry, FeedState

REPORT_DRAFTS = 20  # feed drafts looked at by feed_report


@dataclass(frozen=True)
class FeedReport:
    """The feed's last poll and what it found, for `mailer scheduler status`."""

    url: str
    polled_at: datetime | None
    status: str
    found: int
    detail: str
    connected_at: datetime | None
    drafts_waiting: tuple[str, ...]  # slugs of feed drafts not yet approved (or sent)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drafts_waiting"] = list(self.drafts_waiting)
        for key in ("polled_at", "connected_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data


def feed_report(
    sessions: sessionmaker[Session], url: str, campaigns_dir: Path | None = None
) -> FeedReport | None:
    """The feed's last poll, or None if it was never polled.

    drafts_waiting: the feed's drafts not yet sent; with ``campaigns_dir``, only those whose
    file is still status draft (approved ones wait for their slot, not for staff).
    """
    if not url:
        return None
    with sessions() as session:
        state = session.get(FeedState, url)
        if state is None or state.polled_at is None:
            return None
        slugs = list(
            dict.fromkeys(
                session.scalars(
                    select(FeedEntry.campaign_slug)
                    .where(
                        FeedEntry.feed_url == url,
                        FeedEntry.state == FeedEntryState.DRAFTED,
                        FeedEntry.campaign_slug != "",
                    )
                    .order_by(FeedEntry.id.desc())
                    .limit(REPORT_DRAFTS * 5)
                ).all()
            )
        )[:REPORT_DRAFTS]
        sent = (
            set(session.scalars(select(CampaignRun.slug).where(CampaignRun.slug.in_(slugs))))
            if slugs
            else set()
        )
    files = CampaignFiles(campaigns_dir) if campaigns_dir is not None else None
    waiting = []
    for slug in slugs:
        if slug in sent:
            continue
        if files is not None:
            path = files.find(slug)
            try:
                if path is None or load_campaign(path).status != CampaignStatus.DRAFT:
                    continue
            except CampaignError:
                continue
        waiting.append(slug)
    return FeedReport(
        url=shown_url(url),
        polled_at=state.polled_at,
        status=state.status,
        found=state.found,
        detail=state.detail,
        connected_at=state.connected_at,
        drafts_waiting=tuple(reversed(waiting)),
    )
