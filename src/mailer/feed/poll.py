"""Polling the clinic's blog feed (feed.url): new articles become draft campaigns, each once.

What one poll does:

- **First successful poll of a URL.** The articles already in the feed are recorded as
  ``baseline`` and not drafted, as Mailchimp's RSS-to-email does: only articles published after
  the feed was connected become newsletters. Staff get a notice ("feed connected: N existing
  articles"). ``backfill=N`` (``mailer feed poll --backfill N``) drafts the newest N articles
  that were never drafted, on the first poll or any later one.
- **New articles** are drafted by :mod:`mailer.feed.drafting` (feed.mode single or digest,
  feed.auto_approve) and staff are told (:mod:`mailer.feed.messages`).
- **Record.** Every poll updates FeedState: polled_at, status (ok, not-modified, error), found
  (new entries) and a one-line detail, which `mailer scheduler status` shows via
  :func:`mailer.feed.report.feed_report`. A failing poll (network, HTTP status, not a feed, a
  file that cannot be written) is recorded as an error and returned, never raised: the next
  poll tries again.

Exactly once (the records are :mod:`mailer.feed.entries`). A poll:

1. takes the feed's lease (:class:`mailer.store.leases.Lease` named ``feed:`` + a hash of the
   URL): one poll per feed at a time, a concurrent one returns status "busy"; a crashed poll's
   lease lapses after POLL_LEASE, or at once when its process on this host is gone;
2. claims new entries by inserting them as state ``new`` (the unique key makes a second
   claim impossible) and stores the feed's new ETag/Last-Modified in the same transaction;
3. reserves the campaign file (an empty ``campaigns/<slug>.md`` created exclusively) and
   records its slug on the claimed entries before writing anything into it;
4. writes the campaign atomically, then marks the entries ``drafted`` with the file's sha256
   (a move from ``new`` only: of two polls finishing the same entries, after a lease lapsed
   under a slow one, the first to mark them reports the draft, the other reports nothing).

A crash anywhere leaves entries in state ``new``; the next poll fetches the feed without
validators and finishes them: a file that already lists the entry is only marked drafted; a
reserved but empty file is filled; otherwise the entry is drafted as new. So a crash can delay
a draft, never double it (at worst an empty reserved file stays behind).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailer.articles.feed import parse_feed
from mailer.articles.loader import finish_article
from mailer.articles.model import Article
from mailer.errors import ArticleError, FeedError, MailerError, StorageError
from mailer.feed.address import shown_url
from mailer.feed.drafting import finish_entries
from mailer.feed.entries import (
    claim,
    connect,
    ensure_state,
    entry_key,
    has_unfinished,
    record,
)
from mailer.feed.fetch import FETCH_TIMEOUT, fetch_feed
from mailer.feed.messages import StaffNotify, notify_connected, notify_drafts, poll_detail
from mailer.states import PollStatus
from mailer.store.leases import Lease
from mailer.workspace import Workspace

log = logging.getLogger(__name__)

POLL_LEASE = timedelta(minutes=10)  # far longer than a fetch (20 s) and a few drafts


@dataclass
class FeedPollResult:
    """What one poll did. status: ok, not-modified, error, busy (another poll runs), off
    (:class:`mailer.states.PollStatus`)."""

    url: str
    status: PollStatus
    found: int = 0  # entries never seen before
    drafted: list[str] = field(default_factory=list)  # slugs written or rebuilt
    approved: list[str] = field(default_factory=list)  # of those, approved (feed.auto_approve)
    baseline: int = 0  # entries noted, not drafted, on the first poll
    error: str = ""
    hint: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def poll_lease(sessions: sessionmaker[Session], url: str) -> Lease:
    """The feed's poll lease: a scheduler_leases row whose name (50 characters at most) is
    ``feed:`` and the first 16 hex digits of the URL's sha256 (a URL can be 2000 long)."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return Lease(sessions, name=f"feed:{digest}", ttl=POLL_LEASE)


def poll_feed(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    *,
    notify: StaffNotify,
    now: datetime | None = None,
    timeout: float = FETCH_TIMEOUT,
    backfill: int = 0,
) -> FeedPollResult:
    """Poll feed.url once: fetch, claim new entries, draft them, notify staff (``notify``:
    :func:`mailer.app.mailing.notify_staff`, passed in since sending is a use case).

    Never raises for a failing poll (it is recorded and returned with status "error"); a
    database that cannot be reached raises StorageError.
    """
    url = workspace.settings.feed.url
    if not url:
        return FeedPollResult(
            url="",
            status=PollStatus.OFF,
            error="feed.url is not set",
            hint="set url under [feed] in mailer.toml to the blog's RSS or Atom feed",
        )
    now = now or datetime.now(UTC)
    try:
        lease = poll_lease(sessions, url)
        if not lease.try_acquire(now):
            return FeedPollResult(
                url=url,
                status=PollStatus.BUSY,
                detail="another poll of this feed is running; it does the work",
            )
        try:
            return _poll(workspace, sessions, url, now, timeout, max(backfill, 0), notify)
        finally:
            lease.release(now)
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
    notify: StaffNotify,
) -> FeedPollResult:
    name = shown_url(url)
    state = ensure_state(sessions, url)
    connected = state.connected_at is not None
    # Validators only when nothing is left to finish: a 304 would hide the entries' content.
    conditional = connected and not backfill and not has_unfinished(sessions, url)
    try:
        response = fetch_feed(
            url,
            etag=state.etag if conditional else "",
            last_modified=state.last_modified if conditional else "",
            timeout=timeout,
        )
        if response.not_modified:
            detail = "unchanged since the last poll"
            record(sessions, url, now, status=PollStatus.NOT_MODIFIED, found=0, detail=detail)
            return FeedPollResult(url=url, status=PollStatus.NOT_MODIFIED, detail=detail)
        articles = _read_entries(response.data, name)
    except FeedError as err:
        return _failed(sessions, url, now, err)

    validators = {"etag": response.etag[:500], "last_modified": response.last_modified[:100]}
    if not connected:
        baseline = connect(sessions, url, now, articles, backfill, validators)
        found = 0
    else:
        found = claim(sessions, url, now, articles, backfill, validators)
        baseline = 0

    try:
        drafts = finish_entries(workspace, sessions, url, articles, now)
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
        status=PollStatus.OK,
        found=found,
        drafted=[d.slug for d in drafts],
        approved=[d.slug for d in drafts if d.approved],
        baseline=baseline,
    )
    result.detail = poll_detail(
        found=found, baseline=baseline, drafts=drafts, entries=len(articles), connected=connected
    )
    record(sessions, url, now, status=PollStatus.OK, found=found, detail=result.detail)
    if not connected:
        notify_connected(notify, workspace, url, baseline, len(drafts))
    if drafts:
        notify_drafts(notify, workspace, url, drafts)
    return result


def _read_entries(data: bytes, name: str) -> list[Article]:
    """The feed's entries as `mailer draft` reads them, newest first, each id once."""
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
    record(sessions, url, now, status=PollStatus.ERROR, found=found, detail=detail)
    return FeedPollResult(
        url=url,
        status=PollStatus.ERROR,
        found=found,
        error=err.message,
        hint=err.hint or "",
        detail=detail,
    )
