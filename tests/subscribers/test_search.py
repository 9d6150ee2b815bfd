"""Issue 14 item 1: the staff search finds a person by the start of their address, their last
or first name, or a tag; filters by status and tag; pages without repeating anyone. Storage
behaviour (index ranges, LIKE escaping, collation), so it runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import SubscriberStatus
from mailer.subscribers.search import MAX_PAGE_SIZE, search
from mailer.subscribers.service import add_subscriber, unsubscribe

pytestmark = pytest.mark.both_databases  # storage rules: SQLite and PostgreSQL

PEOPLE = [
    ("margaret.lee@example.com", "Margaret", "Lee", ["patient"]),
    ("lee.brown@example.com", "Lee", "Brown", ["patient", "new-patient"]),
    ("leeds.office@example.org", "", "", ["staff"]),
    ("ana.lopez@example.com", "Ana", "López", []),
    ("maria_50%@example.com", "Maria", "Garcia", ["lead"]),
    ("maria.lopez@example.com", "María", "Lopez", ["lead"]),
    ("bob@example.net", "Bob", "Leeson", ["lee"]),
]


@pytest.fixture
def listed(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        for email, first, last, tags in PEOPLE:
            add_subscriber(session, email, first_name=first, last_name=last, tags=tags)
    with sessions.begin() as session:
        unsubscribe(session, "lee.brown@example.com")
    return sessions


def emails(page: object) -> list[str]:
    return [person.email for person in page.people]  # type: ignore[attr-defined]


def test_finds_by_address_then_last_name_then_first_name_then_tag_each_once(
    listed: sessionmaker[Session],
) -> None:
    """Mrs Lee is found by "lee": addresses starting with it first, then last names (Lee,
    Leeson), then first names (Lee Brown is already listed), then the tag "lee"."""
    assert emails(search(listed, "lee")) == [
        "lee.brown@example.com",
        "leeds.office@example.org",
        "margaret.lee@example.com",
        "bob@example.net",
    ]
    assert emails(search(listed, "LEE")) == emails(search(listed, "lee"))
    assert emails(search(listed, "margaret")) == ["margaret.lee@example.com"]
    assert emails(search(listed, "new-patient")) == ["lee.brown@example.com"]


def test_the_query_is_a_literal_prefix_not_a_pattern(listed: sessionmaker[Session]) -> None:
    assert emails(search(listed, "maria_")) == ["maria_50%@example.com"]
    assert emails(search(listed, "maria_50%")) == ["maria_50%@example.com"]
    assert emails(search(listed, "%")) == []
    assert emails(search(listed, "_")) == []
    assert emails(search(listed, "aria")) == []  # a prefix, not anywhere in the address


def test_filters_by_status_and_tag_with_and_without_a_query(
    listed: sessionmaker[Session],
) -> None:
    unsubscribed = search(listed, status=SubscriberStatus.UNSUBSCRIBED)
    assert emails(unsubscribed) == ["lee.brown@example.com"]
    assert emails(search(listed, "lee", status=SubscriberStatus.ACTIVE)) == [
        "leeds.office@example.org",
        "margaret.lee@example.com",
        "bob@example.net",
    ]
    assert emails(search(listed, tag="lead")) == [
        "maria.lopez@example.com",  # newest first without a query
        "maria_50%@example.com",
    ]
    assert emails(search(listed, "maria", tag="LEAD")) == [
        "maria.lopez@example.com",
        "maria_50%@example.com",
    ]
    assert emails(search(listed, "lee", tag="patient", status="active")) == [
        "margaret.lee@example.com"
    ]


def test_pages_cover_everyone_once_and_say_when_there_is_more(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        for n in range(23):
            add_subscriber(session, f"patient{n:02}@example.com", last_name="Patel")
    pages = [search(sessions, "pat", page=n, page_size=10) for n in (1, 2, 3, 4)]
    assert [len(page.people) for page in pages] == [10, 10, 3, 0]
    assert [page.has_more for page in pages] == [True, True, False, False]
    seen = [email for page in pages for email in emails(page)]
    assert seen == sorted(seen) and len(set(seen)) == 23
    assert search(sessions, "pat", page_size=10_000).page_size == MAX_PAGE_SIZE
    assert search(sessions, "pat", page=-3).page == 1


def test_results_carry_status_tags_and_serialize(listed: sessionmaker[Session]) -> None:
    (person,) = search(listed, "lee.brown").people
    assert person.status == "unsubscribed"
    assert person.tags == ["new-patient", "patient"]
    data = search(listed, "lee.brown").as_dict()
    assert data["people"][0]["email"] == "lee.brown@example.com"
    assert data["has_more"] is False
