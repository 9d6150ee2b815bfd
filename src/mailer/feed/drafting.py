"""The files of a feed poll: claimed entries become campaign files, as `mailer draft` makes them.

- **feed.mode = single.** Each new entry becomes one draft, oldest first, drafted exactly as
  ``mailer draft FEED`` drafts an entry: the entry's own content is the article (no second
  fetch of the page) and its link is the article's address, so the draft is a teaser.
- **feed.mode = digest.** New entries go into one digest draft, newest featured. "Since the last
  issue" means: while the feed's latest digest is still a draft (status draft, no send started)
  and unedited (the file's sha256 equals the one recorded when the poll wrote it), it is rebuilt
  with the new entries added. Once staff edit, approve or send it, the next new entries start a
  new digest. Staff work is never overwritten.
- **Approval.** Nothing is approved unless ``feed.auto_approve`` is true, and then only when
  ``mailer check`` finds no errors; otherwise the draft stays a draft and the notice says why.
  (An auto-approved digest is no longer a draft, so with auto_approve each poll that finds
  new articles makes its own digest.)

Order of writes (see :mod:`mailer.feed.poll`): reserve the file (an empty
``campaigns/<slug>.md`` created exclusively), record its slug on the claimed entries, write the
campaign atomically, then mark the entries drafted with the file's sha256. After a crash,
:func:`finish_entries` marks an entry whose file already lists it, fills a reserved empty file,
and drafts the rest as new: a crash can delay a draft, never double it. A draft is reported
only by the poll whose mark moved its entries from ``new`` (two polls may finish the same
entries after a lease lapsed under a slow one: the same file is written twice, reported once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from mailer.articles.model import Article
from mailer.campaigns.approval import approve
from mailer.campaigns.campaign import Campaign, load_campaign
from mailer.campaigns.check import check_campaign
from mailer.campaigns.draft import CallToAction, draft_campaign
from mailer.campaigns.files import CampaignFiles
from mailer.errors import CampaignError
from mailer.feed.address import shown_url
from mailer.feed.entries import (
    Entry,
    entry_key,
    latest_draft,
    mark_drafted,
    take,
    unfinished,
)
from mailer.states import CampaignStatus
from mailer.store.models import FeedEntry
from mailer.workspace import Workspace

AUTO_APPROVER = "feed:auto_approve"  # approved_by of a draft the poll approved


@dataclass
class Draft:
    """A campaign file the poll wrote, rebuilt or found already written."""

    slug: str
    path: Path
    subject: str
    articles: int
    rebuilt: bool
    approved: bool = False
    not_approved_because: str = ""


def finish_entries(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    url: str,
    articles: Sequence[Article],
    now: datetime,
) -> list[Draft]:
    """Draft every entry of this feed in state ``new``: this poll's claims and any left over."""
    rows = unfinished(sessions, url)
    if not rows:
        return []
    known = Known(articles, url)
    pending = [known.entry(row) for row in rows]

    # A draft written before a crash, its entries not yet marked: mark them, write nothing.
    drafts: list[Draft] = []
    reserved: dict[str, Path] = {}
    remaining: list[Entry] = []
    files = CampaignFiles.of(workspace)
    for entry in pending:
        path = files.find(entry.slug)
        if path is None:
            remaining.append(entry)
            continue
        if path.stat().st_size == 0:  # reserved, never written: fill it
            reserved[entry.slug] = path
            remaining.append(entry)
            continue
        try:
            campaign = load_campaign(path)
        except CampaignError:
            remaining.append(entry)
            continue
        if not any(_same_entry(ref.title, ref.url, entry) for ref in campaign.articles):
            remaining.append(entry)
            continue
        if not mark_drafted(sessions, url, [entry.id], entry.slug, _sha256(path)):
            continue  # the poll that wrote it marked it first and reports it
        if all(draft.slug != entry.slug for draft in drafts):
            drafts.append(Draft(entry.slug, path, campaign.subject, len(campaign.articles), False))
            drafts[-1].approved = campaign.status == CampaignStatus.APPROVED
    remaining.sort(key=lambda entry: entry.order)  # oldest first
    if not remaining:
        return drafts
    if workspace.settings.feed.mode == "single":
        for entry in remaining:
            held = reserved.get(entry.slug)
            draft = write_draft(workspace, sessions, url, [entry], [], held, now)
            drafts += [draft] if draft else []
        return drafts
    target = next((reserved[e.slug] for e in remaining if e.slug in reserved), None)
    previous: list[Entry] = []
    if target is None:
        open_digest = _open_digest(workspace, sessions, url)
        if open_digest is not None:
            target = open_digest[0]
            previous = [known.entry(row) for row in open_digest[1]]
    digest = write_draft(workspace, sessions, url, remaining, previous, target, now)
    return [*drafts, digest] if digest else drafts


class Known:
    """The entries of this poll's feed document, to give each claimed row its article."""

    def __init__(self, articles: Sequence[Article], url: str) -> None:
        self.url = url
        self.by_key = {entry_key(a.entry_id): a for a in articles}
        # Position from the oldest: the feed's own order breaks ties between equal dates.
        self.position = {entry_key(a.entry_id): n for n, a in enumerate(reversed(articles))}

    def entry(self, row: FeedEntry) -> Entry:
        article = self.by_key.get(row.entry_key) or _remembered(row, self.url)
        order = (article.date or date.min, self.position.get(row.entry_key, -1))
        return Entry(row.id, row.entry_key, row.title, row.url, row.campaign_slug, article, order)


def write_draft(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    url: str,
    entries: Sequence[Entry],
    previous: Sequence[Entry],
    path: Path | None,
    now: datetime,
) -> Draft | None:
    """Reserve (or reuse) the file, record its slug, write it, then mark the entries drafted."""
    settings = workspace.settings
    files = CampaignFiles.of(workspace)
    reserved_here = path is None
    if path is None:
        newest = max(entries, key=lambda entry: entry.order)
        day = now.astimezone(ZoneInfo(settings.schedule.timezone)).date()
        path = files.reserve(newest.article.title, day)
    entries = take(sessions, entries, path.stem)
    if not entries:  # another poll drafts them
        if reserved_here:
            path.unlink(missing_ok=True)
        return None
    everything = sorted([*entries, *previous], key=lambda entry: entry.order, reverse=True)
    articles = [entry.article for entry in everything]  # newest first, as `mailer draft` has
    rebuilt = bool(previous)
    cta = CallToAction(settings.booking.cta_text, settings.booking.url)
    campaign = draft_campaign(articles, cta, slug=path.stem, closing=settings.draft.closing_lines)
    files.save(campaign)
    draft = Draft(path.stem, path, campaign.subject, len(articles), rebuilt)
    if settings.feed.auto_approve:
        _auto_approve(workspace, sessions, campaign, draft, now)
    if not mark_drafted(sessions, url, [e.id for e in entries], path.stem, _sha256(path)):
        return None  # a poll that took over the lapsed lease finished these entries: it reports
    return draft


def _auto_approve(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    campaign: Campaign,
    draft: Draft,
    now: datetime,
) -> None:
    """Approve as `mailer approve` does: only when the check finds no errors, bound to content."""
    campaign = load_campaign(draft.path)  # approve the file as the send will read it
    result = check_campaign(workspace, campaign, spam=False)
    if result.errors:
        draft.not_approved_because = "; ".join(f.message for f in result.errors[:3]) + (
            f" (and {len(result.errors) - 3} more)" if len(result.errors) > 3 else ""
        )
        return
    approve(workspace, sessions, campaign, approved_by=AUTO_APPROVER, now=now, check=result)
    draft.approved = True


def _open_digest(
    workspace: Workspace, sessions: sessionmaker[Session], url: str
) -> tuple[Path, Sequence[FeedEntry]] | None:
    """The feed's latest draft and its entries, if staff have not edited, approved or sent it."""
    latest = latest_draft(sessions, url)
    if latest is None:
        return None
    path = CampaignFiles.of(workspace).find(latest.slug)
    if latest.sent or path is None or _sha256(path) != latest.sha256:
        return None
    try:
        if load_campaign(path).status != CampaignStatus.DRAFT:
            return None
    except CampaignError:
        return None
    return path, latest.rows


def _remembered(row: FeedEntry, url: str) -> Article:
    """An entry no longer in the feed, or not fetched: what the database remembers of it."""
    return Article(
        title=row.title or row.url or "Untitled article",
        url=row.url or None,
        source=f"{shown_url(url)} (entry {row.url or row.title})",
        entry_id=row.entry_id,
    )


def _same_entry(title: str, link: str, entry: Entry) -> bool:
    return (bool(link) and link == entry.url) or (not entry.url and title == entry.title)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
