"""Polling the clinic's blog feed (feed.url): new articles become draft campaigns, each once.

What one poll does:

- **First successful poll of a URL.** The articles already in the feed are recorded as
  ``baseline`` and not drafted, as Mailchimp's RSS-to-email does: only articles published after
  the feed was connected become newsletters. Staff get a notice ("feed connected: N existing
  articles"). ``backfill=N`` (``mailer feed poll --backfill N``) drafts the newest N articles
  that were never drafted, on the first poll or any later one.
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
- **Record.** Every poll updates FeedState: polled_at, status (ok, not-modified, error), found
  (new entries) and a one-line detail, which `mailer scheduler status` shows via
  :func:`feed_report`. A failing poll (network, HTTP status, not a feed, a file that cannot be
  written) is recorded as an error and returned, never raised: the next poll tries again.

Exactly once. Each entry is identified by sha256 of its guid/id (else its link, else its title),
unique per feed in the database, so repeats and reordering in the feed change nothing. A poll:

1. takes the feed's lease (FeedState.lease_owner/lease_until): one poll per feed at a time, a
   concurrent one returns status "busy"; a crashed poll's lease lapses after POLL_LEASE;
2. claims new entries by inserting them as state ``new`` (the unique key makes a second
   claim impossible) and stores the feed's new ETag/Last-Modified in the same transaction;
3. reserves the campaign file (an empty ``campaigns/<slug>.md`` created exclusively) and
   records its slug on the claimed entries before writing anything into it;
4. writes the campaign atomically, then marks the entries ``drafted`` with the file's sha256.

A crash anywhere leaves entries in state ``new``; the next poll fetches the feed without
validators and finishes them: a file that already lists the entry is only marked drafted; a
reserved but empty file is filled; otherwise the entry is drafted as new. So a crash can delay
a draft, never double it (at worst an empty reserved file stays behind).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailer.articles.model import Article
from mailer.errors import ArticleError, FeedError, MailerError, StorageError
from mailer.feed.fetch import FETCH_TIMEOUT, fetch_feed, shown_url
from mailer.store.db import transaction
from mailer.store.models import CampaignRun, FeedEntry, FeedState
from mailer.workspace import Workspace

if TYPE_CHECKING:
    from mailer.campaigns.campaign import Campaign

log = logging.getLogger(__name__)

POLL_LEASE = timedelta(minutes=10)  # far longer than a fetch (20 s) and a few drafts
REPORT_DRAFTS = 20  # feed drafts looked at by feed_report

NEW, DRAFTED, BASELINE = "new", "drafted", "baseline"
AUTO_APPROVER = "feed:auto_approve"  # approved_by of a draft the poll approved


@dataclass
class FeedPollResult:
    """What one poll did. status: ok, not-modified, error, busy (another poll runs), off."""

    url: str
    status: str
    found: int = 0  # entries never seen before
    drafted: list[str] = field(default_factory=list)  # slugs written or rebuilt
    approved: list[str] = field(default_factory=list)  # of those, approved (feed.auto_approve)
    baseline: int = 0  # entries noted, not drafted, on the first poll
    error: str = ""
    hint: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


@dataclass
class _Entry:
    """A claimed entry being drafted: its database row's values and its article."""

    id: int
    key: str
    title: str
    url: str
    slug: str
    article: Article
    order: tuple[date, int]  # newest last: (date, position from the oldest)


@dataclass
class _Draft:
    slug: str
    path: Path
    subject: str
    articles: int
    rebuilt: bool
    approved: bool = False
    not_approved_because: str = ""


def entry_key(entry_id: str) -> str:
    return hashlib.sha256(entry_id.encode("utf-8")).hexdigest()


def poll_feed(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    *,
    now: datetime | None = None,
    timeout: float = FETCH_TIMEOUT,
    backfill: int = 0,
) -> FeedPollResult:
    """Poll feed.url once: fetch, claim new entries, draft them, notify staff.

    Never raises for a failing poll (it is recorded and returned with status "error"); a
    database that cannot be reached raises StorageError.
    """
    url = workspace.settings.feed.url
    if not url:
        return FeedPollResult(
            url="",
            status="off",
            error="feed.url is not set",
            hint="set url under [feed] in mailer.toml to the blog's RSS or Atom feed",
        )
    now = now or datetime.now(UTC)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        if not _take_lease(sessions, url, owner, now):
            return FeedPollResult(
                url=url,
                status="busy",
                detail="another poll of this feed is running; it does the work",
            )
        try:
            return _poll(workspace, sessions, url, now, timeout, max(backfill, 0))
        finally:
            _release_lease(sessions, url, owner)
    except SQLAlchemyError as err:
        raise StorageError(
            f"feed {shown_url(url)}: the database refused the poll's records "
            f"({err.__class__.__name__})",
            hint="check database.url and that the database is running; the next poll tries again",
        ) from err


def _poll(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    url: str,
    now: datetime,
    timeout: float,
    backfill: int,
) -> FeedPollResult:
    name = shown_url(url)
    with sessions() as session:
        state = session.get(FeedState, url)
        assert state is not None  # the lease made the row
        unfinished = session.scalar(
            select(FeedEntry.id).where(FeedEntry.feed_url == url, FeedEntry.state == NEW).limit(1)
        )
    connected = state.connected_at is not None
    # Validators only when nothing is left to finish: a 304 would hide the entries' content.
    conditional = connected and unfinished is None and not backfill
    try:
        response = fetch_feed(
            url,
            etag=state.etag if conditional else "",
            last_modified=state.last_modified if conditional else "",
            timeout=timeout,
        )
        if response.not_modified:
            detail = "unchanged since the last poll"
            _record(sessions, url, now, status="not-modified", found=0, detail=detail)
            return FeedPollResult(url=url, status="not-modified", detail=detail)
        articles = _read_entries(response.data, name)
    except FeedError as err:
        return _failed(sessions, url, now, err)

    validators = {"etag": response.etag[:500], "last_modified": response.last_modified[:100]}
    if not connected:
        baseline = _connect(sessions, url, now, articles, backfill, validators)
        found = 0
    else:
        found = _claim(sessions, url, now, articles, backfill, validators)
        baseline = 0

    try:
        drafts = _finish_entries(workspace, sessions, url, articles, now)
    except Exception as err:  # a poll never crashes its caller; the next one finishes the work
        if not isinstance(err, MailerError | OSError):
            log.warning("feed %s: drafting failed", name, exc_info=True)
        problem = FeedError(
            f"feed {name}: new articles were found but their draft could not be written ({err})",
            hint="check that the campaigns/ folder can be written; the next poll finishes "
            "the draft (nothing is drafted twice)",
        )
        return _failed(sessions, url, now, problem, found=found)

    result = FeedPollResult(
        url=url,
        status="ok",
        found=found,
        drafted=[d.slug for d in drafts],
        approved=[d.slug for d in drafts if d.approved],
        baseline=baseline,
    )
    result.detail = _detail(result, drafts, len(articles), connected)
    _record(sessions, url, now, status="ok", found=found, detail=result.detail)
    if not connected:
        _notify_connected(workspace, url, baseline, len(drafts))
    if drafts:
        _notify_drafts(workspace, url, drafts)
    return result


def _read_entries(data: bytes, name: str) -> list[Article]:
    """The feed's entries as `mailer draft` reads them, newest first, each id once."""
    from mailer.articles.feed import parse_feed
    from mailer.articles.loader import finish_article

    try:
        articles = parse_feed(data, name=name)
    except ArticleError as err:
        raise FeedError(
            f"feed {name}: {err.message.removeprefix(f'{name}: ')}",
            hint="set feed.url in mailer.toml to the blog's RSS or Atom feed (often /feed, "
            "/rss.xml or /blog-feed.xml)",
        ) from err
    unique: dict[str, Article] = {}
    for article in articles:
        finish_article(article, name, require_text=False)  # a title and a link still make a teaser
        unique.setdefault(entry_key(article.entry_id), article)
    return list(unique.values())


def _failed(
    sessions: sessionmaker[Session], url: str, now: datetime, err: MailerError, found: int = 0
) -> FeedPollResult:
    detail = err.message + (f" ({err.hint})" if err.hint else "")
    log.warning("feed poll failed: %s", err.message)
    _record(sessions, url, now, status="error", found=found, detail=detail)
    return FeedPollResult(
        url=url, status="error", found=found, error=err.message, hint=err.hint or "", detail=detail
    )


# --- the database side: lease, claims, records ----------------------------------------------


def _insert_ignoring_duplicates(session: Session, model: type[Any], *keys: str) -> Insert:
    """A Core INSERT that skips rows whose ``keys`` exist; RETURNING tells which were added."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    raise RuntimeError(f"feed polling supports SQLite and PostgreSQL, not {dialect}")


def _added(session: Session, insert: Insert, values: dict[str, Any]) -> bool:
    """Run one INSERT ... ON CONFLICT DO NOTHING: was the row added?

    (rowcount is -1 for such statements on psycopg; a RETURNING row is certain on both.)
    """
    returning = insert.values(**values).returning(FeedEntry.__table__.c.id)
    return session.execute(returning).first() is not None


def _take_lease(sessions: sessionmaker[Session], url: str, owner: str, now: datetime) -> bool:
    """The feed's poll lease, unless another poll holds an unexpired one.

    The INSERT comes first so that on SQLite the transaction holds the write lock before it reads.
    """
    with transaction(sessions) as session:
        session.execute(
            _insert_ignoring_duplicates(session, FeedState, "url").values(
                url=url, etag="", last_modified="", status="", found=0, detail=""
            )
        )
        taken = session.execute(
            update(FeedState)
            .where(
                FeedState.url == url,
                or_(FeedState.lease_until.is_(None), FeedState.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=now + POLL_LEASE)
            .execution_options(synchronize_session=False)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def _release_lease(sessions: sessionmaker[Session], url: str, owner: str) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(FeedState)
            .where(FeedState.url == url, FeedState.lease_owner == owner)
            .values(lease_owner="", lease_until=None)
            .execution_options(synchronize_session=False)
        )


def _record(
    sessions: sessionmaker[Session],
    url: str,
    now: datetime,
    *,
    status: str,
    found: int,
    detail: str,
) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(FeedState)
            .where(FeedState.url == url)
            .values(polled_at=now, status=status, found=found, detail=detail)
            .execution_options(synchronize_session=False)
        )


def _entry_values(url: str, article: Article, now: datetime, state: str) -> dict[str, Any]:
    return {
        "feed_url": url,
        "entry_key": entry_key(article.entry_id),
        "entry_id": article.entry_id,
        "title": article.title,
        "url": article.url or "",
        "seen_at": now,
        "campaign_slug": "",
        "state": state,
        "draft_sha256": "",
    }


def _connect(
    sessions: sessionmaker[Session],
    url: str,
    now: datetime,
    articles: Sequence[Article],
    backfill: int,
    validators: dict[str, str],
) -> int:
    """First poll: every entry noted as baseline (the newest ``backfill`` claimed instead)."""
    baseline = 0
    with transaction(sessions) as session:
        insert = _insert_ignoring_duplicates(session, FeedEntry, "feed_url", "entry_key")
        # Oldest first, so that ids follow the blog's order (articles come newest first).
        for position, article in reversed(list(enumerate(articles))):
            state = NEW if position < backfill else BASELINE
            added = _added(session, insert, _entry_values(url, article, now, state))
            baseline += int(added and state == BASELINE)
        session.execute(
            update(FeedState)
            .where(FeedState.url == url)
            .values(connected_at=now, **validators)
            .execution_options(synchronize_session=False)
        )
    return baseline


def _claim(
    sessions: sessionmaker[Session],
    url: str,
    now: datetime,
    articles: Sequence[Article],
    backfill: int,
    validators: dict[str, str],
) -> int:
    """Insert unseen entries as ``new`` (claimed by this poll); store the validators with them."""
    claimed = 0
    with transaction(sessions) as session:
        # The validators first: on SQLite a write opens the transaction with the write lock held.
        session.execute(
            update(FeedState)
            .where(FeedState.url == url)
            .values(**validators)
            .execution_options(synchronize_session=False)
        )
        insert = _insert_ignoring_duplicates(session, FeedEntry, "feed_url", "entry_key")
        for article in reversed(articles):  # oldest first: ids follow the blog's order
            claimed += int(_added(session, insert, _entry_values(url, article, now, NEW)))
        if backfill:
            keys = [entry_key(a.entry_id) for a in articles[:backfill]]
            session.execute(
                update(FeedEntry)
                .where(
                    FeedEntry.feed_url == url,
                    FeedEntry.entry_key.in_(keys),
                    FeedEntry.state == BASELINE,
                )
                .values(state=NEW, seen_at=now)
                .execution_options(synchronize_session=False)
            )
    return claimed


def _take(sessions: sessionmaker[Session], entries: Sequence[_Entry], slug: str) -> list[_Entry]:
    """Record the draft's slug on each entry, if no other poll has recorded another meanwhile.

    A compare-and-set on the slug the entry had when read: should two polls ever work on the
    same claimed entry (a lease that lapsed under a very slow poll), only one drafts it.
    """
    taken = []
    with transaction(sessions) as session:
        for entry in entries:
            done = session.execute(
                update(FeedEntry)
                .where(
                    FeedEntry.id == entry.id,
                    FeedEntry.state == NEW,
                    FeedEntry.campaign_slug == entry.slug,
                )
                .values(campaign_slug=slug)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount:  # type: ignore[attr-defined]
                entry.slug = slug
                taken.append(entry)
    return taken


def _mark_drafted(
    sessions: sessionmaker[Session], url: str, ids: Sequence[int], slug: str, sha: str
) -> None:
    """The entries are in the file: drafted. Every entry of that draft gets the file's sha256."""
    with transaction(sessions) as session:
        session.execute(
            update(FeedEntry)
            .where(FeedEntry.id.in_(list(ids)))
            .values(state=DRAFTED, campaign_slug=slug)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(FeedEntry)
            .where(FeedEntry.feed_url == url, FeedEntry.campaign_slug == slug)
            .values(draft_sha256=sha)
            .execution_options(synchronize_session=False)
        )


# --- the files: drafting as `mailer draft` does ------------------------------------------------


def _finish_entries(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    url: str,
    articles: Sequence[Article],
    now: datetime,
) -> list[_Draft]:
    """Draft every entry of this feed in state ``new``: this poll's claims and any left over."""
    from mailer.campaigns.campaign import load_campaign
    from mailer.errors import CampaignError

    with sessions() as session:
        rows = session.scalars(
            select(FeedEntry)
            .where(FeedEntry.feed_url == url, FeedEntry.state == NEW)
            .order_by(FeedEntry.id)
        ).all()
    if not rows:
        return []
    known = _Known(articles, url)
    pending = [known.entry(row) for row in rows]

    # A draft written before a crash, its entries not yet marked: mark them, write nothing.
    drafts: list[_Draft] = []
    reserved: dict[str, Path] = {}
    remaining: list[_Entry] = []
    campaigns_dir = workspace.campaigns_dir
    for entry in pending:
        path = campaigns_dir / f"{entry.slug}.md"
        if not entry.slug or not path.is_file():
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
        _mark_drafted(sessions, url, [entry.id], entry.slug, _sha256(path))
        if all(draft.slug != entry.slug for draft in drafts):
            drafts.append(_Draft(entry.slug, path, campaign.subject, len(campaign.articles), False))
            drafts[-1].approved = campaign.status == "approved"
    remaining.sort(key=lambda entry: entry.order)  # oldest first
    if not remaining:
        return drafts
    if workspace.settings.feed.mode == "single":
        for entry in remaining:
            draft = _write(workspace, sessions, url, [entry], [], reserved.get(entry.slug), now)
            drafts += [draft] if draft else []
        return drafts
    target = next((reserved[e.slug] for e in remaining if e.slug in reserved), None)
    previous: list[_Entry] = []
    if target is None:
        open_digest = _open_digest(workspace, sessions, url)
        if open_digest is not None:
            target = open_digest[0]
            previous = [known.entry(row) for row in open_digest[1]]
    digest = _write(workspace, sessions, url, remaining, previous, target, now)
    return [*drafts, digest] if digest else drafts


class _Known:
    """The entries of this poll's feed document, to give each claimed row its article."""

    def __init__(self, articles: Sequence[Article], url: str) -> None:
        self.url = url
        self.by_key = {entry_key(a.entry_id): a for a in articles}
        # Position from the oldest: the feed's own order breaks ties between equal dates.
        self.position = {entry_key(a.entry_id): n for n, a in enumerate(reversed(articles))}

    def entry(self, row: FeedEntry) -> _Entry:
        article = self.by_key.get(row.entry_key) or _remembered(row, self.url)
        order = (article.date or date.min, self.position.get(row.entry_key, -1))
        return _Entry(row.id, row.entry_key, row.title, row.url, row.campaign_slug, article, order)


def _write(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    url: str,
    entries: Sequence[_Entry],
    previous: Sequence[_Entry],
    path: Path | None,
    now: datetime,
) -> _Draft | None:
    """Reserve (or reuse) the file, record its slug, write it, then mark the entries drafted."""
    from mailer.campaigns.campaign import save_campaign
    from mailer.campaigns.draft import CallToAction, draft_campaign
    from mailer.campaigns.slug import reserve_campaign_path

    settings = workspace.settings
    reserved_here = path is None
    if path is None:
        newest = max(entries, key=lambda entry: entry.order)
        day = now.astimezone(ZoneInfo(settings.schedule.timezone)).date()
        path = reserve_campaign_path(workspace.campaigns_dir, newest.article.title, day)
    entries = _take(sessions, entries, path.stem)
    if not entries:  # another poll drafts them
        if reserved_here:
            path.unlink(missing_ok=True)
        return None
    everything = sorted([*entries, *previous], key=lambda entry: entry.order, reverse=True)
    articles = [entry.article for entry in everything]  # newest first, as `mailer draft` has
    rebuilt = bool(previous)
    cta = CallToAction(settings.booking.cta_text, settings.booking.url)
    campaign = draft_campaign(articles, cta, slug=path.stem, closing=settings.draft.closing_lines)
    save_campaign(campaign, path)
    draft = _Draft(path.stem, path, campaign.subject, len(articles), rebuilt)
    if settings.feed.auto_approve:
        _auto_approve(workspace, sessions, campaign, draft, now)
    _mark_drafted(sessions, url, [entry.id for entry in entries], path.stem, _sha256(path))
    return draft


def _auto_approve(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    campaign: Campaign,
    draft: _Draft,
    now: datetime,
) -> None:
    """Approve as `mailer approve` does: only when the check finds no errors, bound to content."""
    from mailer.campaigns.approval import approve
    from mailer.campaigns.campaign import load_campaign
    from mailer.campaigns.check import check_campaign

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
    from mailer.campaigns.campaign import load_campaign
    from mailer.errors import CampaignError

    with sessions() as session:
        latest = session.scalars(
            select(FeedEntry)
            .where(
                FeedEntry.feed_url == url,
                FeedEntry.state == DRAFTED,
                FeedEntry.campaign_slug != "",
            )
            .order_by(FeedEntry.id.desc())
            .limit(1)
        ).first()
        if latest is None:
            return None
        slug = latest.campaign_slug
        rows = session.scalars(
            select(FeedEntry).where(
                FeedEntry.feed_url == url,
                FeedEntry.campaign_slug == slug,
                FeedEntry.state == DRAFTED,
            )
        ).all()
        sent = session.scalar(select(CampaignRun.id).where(CampaignRun.slug == slug))
    path = workspace.campaigns_dir / f"{slug}.md"
    if sent is not None or not path.is_file() or _sha256(path) != latest.draft_sha256:
        return None
    try:
        if load_campaign(path).status != "draft":
            return None
    except CampaignError:
        return None
    return path, rows


def _remembered(row: FeedEntry, url: str) -> Article:
    """An entry no longer in the feed, or not fetched: what the database remembers of it."""
    return Article(
        title=row.title or row.url or "Untitled article",
        url=row.url or None,
        source=f"{shown_url(url)} (entry {row.url or row.title})",
        entry_id=row.entry_id,
    )


def _same_entry(title: str, link: str, entry: _Entry) -> bool:
    return (bool(link) and link == entry.url) or (not entry.url and title == entry.title)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- what staff read ---------------------------------------------------------------------------


def _detail(result: FeedPollResult, drafts: Sequence[_Draft], entries: int, connected: bool) -> str:
    parts = []
    if not connected:
        parts.append(
            f"connected: {result.baseline} article(s) already in the feed noted, not drafted"
        )
    elif result.found:
        parts.append(f"{result.found} new article(s)")
    else:
        parts.append(f"no new articles ({entries} in the feed)")
    for draft in drafts:
        verb = "added to the digest" if draft.rebuilt else "drafted"
        state = "approved" if draft.approved else "waiting for approval"
        parts.append(f"{verb} campaigns/{draft.slug}.md ({state})")
    return "; ".join(parts)


def _notify_connected(workspace: Workspace, url: str, baseline: int, drafted: int) -> None:
    from mailer.delivery.notices import notify_staff

    backfilled = (
        f"\n\nAs asked, the newest {drafted} article(s) were drafted: see the next email."
        if drafted
        else ""
    )
    notify_staff(
        workspace,
        f"feed connected: {baseline} existing articles; new ones will be drafted",
        f"mailer now watches the blog's feed {shown_url(url)}.\n\n"
        f"The {baseline} article(s) already in it were noted and not drafted. Each article "
        "published from now on becomes a draft newsletter, and you get an email when one "
        "waits." + backfilled + "\n\n"
        "To draft the newest existing article too: mailer feed poll --backfill 1",
    )


def _notify_drafts(workspace: Workspace, url: str, drafts: Sequence[_Draft]) -> None:
    from mailer.delivery.notices import notify_staff

    waiting = [d for d in drafts if not d.approved]
    if len(drafts) == 1:
        subject = (
            f"approved from the blog: {drafts[0].subject}"
            if drafts[0].approved
            else f"a draft waits: {drafts[0].subject}"
        )
    else:
        subject = f"{len(drafts)} drafts from the blog" + (
            f", {len(waiting)} waiting for approval" if waiting else ""
        )
    paragraphs = [f"New articles on the blog ({shown_url(url)}) were drafted in {workspace.root}."]
    for draft in drafts:
        what = (
            f"The digest “{draft.subject}” now has {draft.articles} articles"
            if draft.rebuilt
            else f"“{draft.subject}”"
            + (f" ({draft.articles} articles)" if draft.articles > 1 else "")
        )
        lines = [f"{what}: campaigns/{draft.slug}.md"]
        if draft.approved:
            lines.append(
                "Approved automatically (feed.auto_approve = true; `mailer check` found no "
                "errors): it goes out in the next weekly slot. To hold it: mailer unapprove "
                f"{draft.slug}"
            )
        else:
            if draft.not_approved_because:
                lines.append(
                    "Not approved automatically: `mailer check` found errors: "
                    f"{draft.not_approved_because}. Fix them in the file first."
                )
            lines.append(f"See it as subscribers will: mailer preview {draft.slug} --out preview/")
            lines.append(f"Approve it: mailer approve {draft.slug}")
        paragraphs.append("\n".join(lines))
    if waiting:
        paragraphs.append("Nothing is sent until it is approved.")
    notify_staff(workspace, subject, "\n\n".join(paragraphs))


# --- for `mailer scheduler status` -------------------------------------------------------------


def feed_report(
    sessions: sessionmaker[Session], url: str, campaigns_dir: Path | None = None
) -> FeedReport | None:
    """The feed's last poll, or None if it was never polled.

    drafts_waiting: the feed's drafts not yet sent; with ``campaigns_dir``, only those whose
    file is still status draft (approved ones wait for their slot, not for staff).
    """
    from mailer.campaigns.campaign import load_campaign
    from mailer.errors import CampaignError

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
                        FeedEntry.state == DRAFTED,
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
    waiting = []
    for slug in slugs:
        if slug in sent:
            continue
        if campaigns_dir is not None:
            path = campaigns_dir / f"{slug}.md"
            try:
                if not path.is_file() or load_campaign(path).status != "draft":
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
