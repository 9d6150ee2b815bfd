"""The feed's records in the database: FeedState (the last poll) and FeedEntry (every entry).

Exactly once. Each entry is identified by :func:`entry_key`, the sha256 of its guid/id (else its
link, else its title), unique per feed in the database, so repeats and reordering in the feed
change nothing. An entry's states: ``new`` (claimed by a poll, its draft not yet finished; a
later poll finishes it), ``drafted``, ``baseline`` (in the feed when it was connected, not
drafted). The claims are INSERT ... ON CONFLICT DO NOTHING: the unique key makes a second claim
impossible, on SQLite and PostgreSQL alike. The slug a draft goes into is recorded with a
compare-and-set (:func:`take`), and the move from ``new`` to ``drafted`` is another
(:func:`mark_drafted`): two polls holding the same claimed entry report its draft once.

This is the lowest of the feed modules: the :class:`Entry` being drafted lives here (its states
are :class:`mailer.states.FeedEntryState`), so that drafting, messages, report and poll import it
and not each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Insert, Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.articles.model import Article
from mailer.states import FeedEntryState, PollStatus
from mailer.store.db import insert_ignoring_duplicates, transaction
from mailer.store.models import CampaignRun, FeedEntry, FeedState

_ENTRIES = cast(Table, FeedEntry.__table__)
_STATES = cast(Table, FeedState.__table__)


@dataclass
class Entry:
    """A claimed entry being drafted: its database row's values and its article."""

    id: int
    key: str
    title: str
    url: str
    slug: str
    article: Article
    order: tuple[date, int]  # newest last: (date, position from the oldest)


@dataclass(frozen=True)
class LatestDraft:
    """The feed's latest draft as the database knows it: its slug, entries and sha256."""

    slug: str
    sha256: str  # of the file as the poll wrote it
    rows: Sequence[FeedEntry]
    sent: bool  # a campaign run exists for the slug


def entry_key(entry_id: str) -> str:
    return hashlib.sha256(entry_id.encode("utf-8")).hexdigest()


def _added(session: Session, insert: Insert, values: dict[str, Any]) -> bool:
    """Run one INSERT ... ON CONFLICT DO NOTHING: was the row added?

    (rowcount is -1 for such statements on psycopg; a RETURNING row is certain on both.)
    """
    returning = insert.values(**values).returning(_ENTRIES.c.id)
    return session.execute(returning).first() is not None


def ensure_state(sessions: sessionmaker[Session], url: str) -> FeedState:
    """The feed's FeedState row, made empty on its first poll (a concurrent insert is ignored)."""
    with transaction(sessions) as session:
        session.execute(
            insert_ignoring_duplicates(session, _STATES, "url").values(
                url=url, etag="", last_modified="", status="", found=0, detail=""
            )
        )
    with sessions() as session:
        state = session.get(FeedState, url)
        assert state is not None  # inserted above, and never deleted
        return state


def has_unfinished(sessions: sessionmaker[Session], url: str) -> bool:
    """Is an entry of this feed still in state ``new`` (claimed, its draft not finished)?"""
    with sessions() as session:
        return (
            session.scalar(
                select(FeedEntry.id)
                .where(FeedEntry.feed_url == url, FeedEntry.state == FeedEntryState.NEW)
                .limit(1)
            )
            is not None
        )


def unfinished(sessions: sessionmaker[Session], url: str) -> Sequence[FeedEntry]:
    """This feed's entries in state ``new``, in claim order."""
    with sessions() as session:
        return session.scalars(
            select(FeedEntry)
            .where(FeedEntry.feed_url == url, FeedEntry.state == FeedEntryState.NEW)
            .order_by(FeedEntry.id)
        ).all()


def record(
    sessions: sessionmaker[Session],
    url: str,
    now: datetime,
    *,
    status: PollStatus,
    found: int,
    detail: str,
) -> None:
    """The poll's outcome on FeedState: what `mailer scheduler status` shows."""
    with transaction(sessions) as session:
        session.execute(
            update(FeedState)
            .where(FeedState.url == url)
            .values(polled_at=now, status=status, found=found, detail=detail)
            .execution_options(synchronize_session=False)
        )


def _entry_values(
    url: str, article: Article, now: datetime, state: FeedEntryState
) -> dict[str, Any]:
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


def connect(
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
        insert = insert_ignoring_duplicates(session, _ENTRIES, "feed_url", "entry_key")
        # Oldest first, so that ids follow the blog's order (articles come newest first).
        for position, article in reversed(list(enumerate(articles))):
            state = FeedEntryState.NEW if position < backfill else FeedEntryState.BASELINE
            added = _added(session, insert, _entry_values(url, article, now, state))
            baseline += int(added and state == FeedEntryState.BASELINE)
        session.execute(
            update(FeedState)
            .where(FeedState.url == url)
            .values(connected_at=now, **validators)
            .execution_options(synchronize_session=False)
        )
    return baseline


def claim(
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
        insert = insert_ignoring_duplicates(session, _ENTRIES, "feed_url", "entry_key")
        for article in reversed(articles):  # oldest first: ids follow the blog's order
            values = _entry_values(url, article, now, FeedEntryState.NEW)
            claimed += int(_added(session, insert, values))
        if backfill:
            keys = [entry_key(a.entry_id) for a in articles[:backfill]]
            session.execute(
                update(FeedEntry)
                .where(
                    FeedEntry.feed_url == url,
                    FeedEntry.entry_key.in_(keys),
                    FeedEntry.state == FeedEntryState.BASELINE,
                )
                .values(state=FeedEntryState.NEW, seen_at=now)
                .execution_options(synchronize_session=False)
            )
    return claimed


def take(sessions: sessionmaker[Session], entries: Sequence[Entry], slug: str) -> list[Entry]:
    """Record the draft's slug on each entry, if no other poll has recorded another meanwhile.

    A compare-and-set on the slug the entry had when read: should two polls ever work on the
    same claimed entry (a lease that lapsed under a very slow poll), only one reserves a file
    for it. A poll filling the slug already recorded (a reserved file, as a crash leaves it)
    sets it to itself and passes: :func:`mark_drafted` decides which of the two reports it.
    """
    taken = []
    with transaction(sessions) as session:
        for entry in entries:
            done = session.execute(
                update(FeedEntry)
                .where(
                    FeedEntry.id == entry.id,
                    FeedEntry.state == FeedEntryState.NEW,
                    FeedEntry.campaign_slug == entry.slug,
                )
                .values(campaign_slug=slug)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount:  # type: ignore[attr-defined]
                entry.slug = slug
                taken.append(entry)
    return taken


def mark_drafted(
    sessions: sessionmaker[Session], url: str, ids: Sequence[int], slug: str, sha: str
) -> bool:
    """The entries are in the file: drafted, each once. Did this call move any from ``new``?

    The move from ``new`` to ``drafted`` is the compare-and-set that makes a draft single:
    :func:`take` cannot tell a crashed poll's reserved slug from a live one's, so a poll that
    took over a lapsed lease may finish the same entries as the slow poll still drafting them
    (both write the same file). Only the first to mark them drafted reports the draft; the
    other's call changes nothing and returns False. Every entry of the draft gets the sha256.
    """
    with transaction(sessions) as session:
        moved = session.execute(
            update(FeedEntry)
            .where(FeedEntry.id.in_(list(ids)), FeedEntry.state == FeedEntryState.NEW)
            .values(state=FeedEntryState.DRAFTED, campaign_slug=slug)
            .returning(FeedEntry.id)
            .execution_options(synchronize_session=False)
        ).all()
        if not moved:
            return False
        session.execute(
            update(FeedEntry)
            .where(FeedEntry.feed_url == url, FeedEntry.campaign_slug == slug)
            .values(draft_sha256=sha)
            .execution_options(synchronize_session=False)
        )
    return True


def latest_draft(sessions: sessionmaker[Session], url: str) -> LatestDraft | None:
    """The feed's most recently drafted campaign, its entries, and whether a send started."""
    with sessions() as session:
        latest = session.scalars(
            select(FeedEntry)
            .where(
                FeedEntry.feed_url == url,
                FeedEntry.state == FeedEntryState.DRAFTED,
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
                FeedEntry.state == FeedEntryState.DRAFTED,
            )
        ).all()
        sent = session.scalar(select(CampaignRun.id).where(CampaignRun.slug == slug))
    return LatestDraft(slug, latest.draft_sha256, rows, sent is not None)
