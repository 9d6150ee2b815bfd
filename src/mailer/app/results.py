"""A sent campaign's results and the last issues side by side, as the staff pages show them
(issue 14 items 3-4): the workspace's provider, the campaign file's articles (a digest's
clicks per article) and delivery.results, wired in one place.

The figures are ``delivery.report.campaign_report``'s, the code behind `mailer report --json`,
read with the same provider setting, so the page and the command agree. A campaign file that
is gone or unreadable only costs the per-article chart (the run in the database has the rest).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.campaign import load_campaign
from mailer.delivery.results import (
    ArticleRef,
    CampaignResults,
    TrendRow,
    campaign_results,
    trends,
)
from mailer.errors import CampaignError
from mailer.workspace import Workspace


@dataclass(frozen=True)
class ResultsView:
    results: CampaignResults
    digest: bool  # more than one article: the per-article chart applies


def articles_of(workspace: Workspace, slug: str) -> list[ArticleRef]:
    """The campaign file's articles (title and address), or none when the file is not there
    or cannot be read."""
    path = workspace.campaigns_dir / f"{slug}.md"
    if not path.is_file():
        return []
    try:
        campaign = load_campaign(path)
    except CampaignError:
        return []
    return [ArticleRef(a.title, a.url) for a in campaign.articles if a.url]


def results_of(
    workspace: Workspace, sessions: sessionmaker[Session], slug: str
) -> ResultsView | None:
    """The results of ``slug``, or None when it was never sent."""
    articles = articles_of(workspace, slug)
    found = campaign_results(sessions, slug, workspace.settings.delivery.provider, articles)
    if found is None:
        return None
    return ResultsView(found, digest=len(articles) > 1)


def last_issues(
    workspace: Workspace, sessions: sessionmaker[Session], limit: int
) -> list[TrendRow]:
    """The last ``limit`` sent issues, newest first."""
    return trends(sessions, workspace.settings.delivery.provider, limit)
