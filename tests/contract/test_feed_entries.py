"""Feed entries are claimed once (feed/entries.py), on SQLite and PostgreSQL: a repeated or
reordered feed, two polls at once, two polls holding the same claimed entry."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import select

from mailer.articles.model import Article
from mailer.feed import entries
from mailer.store.models import FeedEntry, utcnow
from tests.contract.conftest import Backend

URL = "https://www.clinic.example/blog/feed.xml"
VALIDATORS = {"etag": '"v1"', "last_modified": ""}


def articles(count: int) -> list[Article]:
    """A feed's entries, newest first, as the feed parser gives them."""
    return [
        Article(
            title=f"Article {n}",
            url=f"https://www.clinic.example/blog/{n}",
            entry_id=f"tag:clinic.example,2026:{n}",
        )
        for n in reversed(range(count))
    ]


def claim(backend: Backend, feed: list[Article]) -> int:
    return entries.claim(backend.sessions, URL, utcnow(), feed, 0, VALIDATORS)


def test_an_entry_is_claimed_once_however_often_and_in_whatever_order_it_is_seen(
    backend: Backend,
) -> None:
    entries.ensure_state(backend.sessions, URL)
    feed = articles(3)
    assert claim(backend, feed) == 3
    assert claim(backend, feed) == 0
    assert claim(backend, list(reversed(feed))) == 0
    assert claim(backend, articles(4)) == 1  # only the new one
    assert backend.count(FeedEntry) == 4


def test_two_polls_claiming_at_once_claim_each_entry_once(backend: Backend) -> None:
    entries.ensure_state(backend.sessions, URL)
    feed = articles(20)
    claimed: list[int] = []
    ready = threading.Barrier(2)

    def poll() -> None:
        ready.wait()
        claimed.append(claim(backend, feed))

    polls = [threading.Thread(target=poll) for _ in range(2)]
    for thread in polls:
        thread.start()
    for thread in polls:
        thread.join(timeout=60)
    assert sum(claimed) == 20 and len(claimed) == 2
    assert backend.count(FeedEntry) == 20


def test_only_one_of_two_polls_holding_the_same_entry_takes_it_for_a_draft(
    backend: Backend,
) -> None:
    entries.ensure_state(backend.sessions, URL)
    (article,) = articles(1)
    claim(backend, [article])
    with backend.sessions() as session:
        row = session.scalars(select(FeedEntry)).one()

    def held() -> entries.Entry:  # what each poll read of the claimed entry
        return entries.Entry(row.id, row.entry_key, row.title, row.url, "", article, (date.min, 0))

    first, second = held(), held()
    assert entries.take(backend.sessions, [first], "article-0") == [first]
    assert entries.take(backend.sessions, [second], "article-0-2") == []
    with backend.sessions() as session:
        assert session.scalars(select(FeedEntry.campaign_slug)).one() == "article-0"
