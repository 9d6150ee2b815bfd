"""Articles to a draft campaign file: what `mailer draft` and the staff page "Create draft" run.

One path for both faces: the sources are read by the articles/ importers (files and addresses
with their size cap and timeout; uploads and pasted text with the same cap), a feed gives its
newest entry or, when feed.mode is digest, its newest FEED_DIGEST_ENTRIES, and the campaign is
composed by campaigns/draft.py with the booking call to action and draft.closing_lines, then
written to campaigns/<date>-<slug>.md (never over an existing file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailer.articles import Article, load_articles, load_articles_from_bytes
from mailer.campaigns.approval import current_approval
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.draft import CallToAction, write_draft
from mailer.campaigns.files import CampaignFiles
from mailer.config import Settings
from mailer.delivery.ledger import Ledger
from mailer.errors import ApprovalError, MailerError
from mailer.workspace import Workspace

FEED_DIGEST_ENTRIES = 5  # entries of a feed given to draft when feed.mode is "digest"


def feed_limit(settings: Settings) -> int:
    """How many entries of a feed given as a source become articles."""
    return 1 if settings.feed.mode == "single" else FEED_DIGEST_ENTRIES


def load_sources(
    workspace: Workspace, sources: Sequence[str | Path], urls: Sequence[str] = ()
) -> list[Article]:
    """The articles of files and addresses in order; ``urls[i]`` (may be "") is source i's
    public address when its file does not say it."""
    limit = feed_limit(workspace.settings)
    addresses = [*urls, *[""] * (len(sources) - len(urls))]
    return [
        article
        for source, url in zip(sources, addresses, strict=True)
        for article in load_articles(source, url=url or None, limit=limit)
    ]


def load_upload(workspace: Workspace, data: bytes, name: str, url: str = "") -> list[Article]:
    """The articles of an uploaded file or pasted text (``name`` chooses the importer)."""
    limit = feed_limit(workspace.settings)
    return load_articles_from_bytes(data, name, url=url or None, limit=limit)


@dataclass(frozen=True)
class EarlierDraft:
    """A campaign drafted before from the same (first) article, by its slug."""

    slug: str
    kept_because: str  # "" (a draft nobody approved or sent: replaceable), "approved", "sent"

    @property
    def replaceable(self) -> bool:
        return not self.kept_because


def earlier_drafts(
    workspace: Workspace, sessions: sessionmaker[Session], articles: Sequence[Article]
) -> list[EarlierDraft]:
    """The campaigns drafted before from ``articles``' first article (any day, oldest first),
    each with why it may not be replaced: its file says approved, an approval is recorded, or
    its send has started. A file that cannot be read is kept too."""
    if not articles:
        return []
    files = CampaignFiles.of(workspace)
    ledger = Ledger(sessions)
    found = []
    for slug in files.drafts_of(articles[0].title):
        try:
            status: str = files.load(slug).status
        except MailerError:
            status = "unreadable"
        if ledger.find_run(slug) is not None:
            why = "sent"
        elif status != "draft" or current_approval(sessions, slug) is not None:
            why = "approved" if status != "unreadable" else "unreadable"
        else:
            why = ""
        found.append(EarlierDraft(slug, why))
    return found


def draft_from_articles(
    workspace: Workspace,
    articles: Sequence[Article],
    *,
    day: date | None = None,
    over: EarlierDraft | None = None,
) -> Campaign:
    """Write the draft for ``articles`` (several: a digest featuring the first) and return it;
    ``over``: an earlier draft (from :func:`earlier_drafts`) to replace instead of writing a
    new ``-2`` file. An approved or sent campaign is never replaced (ApprovalError)."""
    if over is not None and not over.replaceable:
        raise ApprovalError(
            f"{over.slug} is {over.kept_because}: it is never replaced by a new draft",
            hint="draft without --replace: the new draft gets a file of its own",
        )
    settings = workspace.settings
    cta = CallToAction(settings.booking.cta_text, settings.booking.url)
    return write_draft(
        articles,
        workspace.campaigns_dir,
        cta,
        day=day,
        closing=settings.draft.closing_lines,
        over=over.slug if over is not None else None,
    )
