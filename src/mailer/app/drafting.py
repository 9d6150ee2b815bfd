"""Articles to a draft campaign file: what `mailer draft` and the staff page "Create draft" run.

One path for both faces: the sources are read by the articles/ importers (files and addresses
with their size cap and timeout; uploads and pasted text with the same cap), a feed gives its
newest entry or, when feed.mode is digest, its newest FEED_DIGEST_ENTRIES, and the campaign is
composed by campaigns/draft.py with the booking call to action and draft.closing_lines, then
written to campaigns/<date>-<slug>.md (never over an existing file).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from mailer.articles import Article, load_articles, load_articles_from_bytes
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.draft import CallToAction, write_draft
from mailer.config import Settings
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


def draft_from_articles(
    workspace: Workspace, articles: Sequence[Article], *, day: date | None = None
) -> Campaign:
    """Write the draft for ``articles`` (several: a digest featuring the first) and return it."""
    settings = workspace.settings
    cta = CallToAction(settings.booking.cta_text, settings.booking.url)
    return write_draft(
        articles, workspace.campaigns_dir, cta, day=day, closing=settings.draft.closing_lines
    )
