"""The bulk writes whose SQL differs per database, on SQLite and PostgreSQL:
insert_ignoring_duplicates (store/db.py) adds only rows whose unique key is new and says which;
bulk_insert and inserted_ids (subscribers/bulk.py) store values as the ORM would and return the
new ids in order; subscriber ids are never handed out again after an erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, select

from mailer.store.db import insert_ignoring_duplicates
from mailer.store.models import Event, Subscriber
from mailer.subscribers.bulk import bulk_insert, inserted_ids
from mailer.subscribers.service import add_subscriber, delete_subscriber
from tests.contract.conftest import Backend

EVENTS = cast(Table, Event.__table__)
SUBSCRIBERS = cast(Table, Subscriber.__table__)
WHEN = datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=UTC)


def event_row(event_id: str) -> dict[str, object]:
    return {
        "source": "contract",
        "source_event_id": event_id,
        "kind": "opened",
        "occurred_at": WHEN,
        "raw": {"id": event_id},
    }


def test_insert_ignoring_duplicates_adds_only_new_keys_and_returns_them(
    backend: Backend,
) -> None:
    with backend.sessions() as session, session.begin():
        insert = insert_ignoring_duplicates(session, EVENTS, "source_event_id")
        session.execute(insert, [event_row("a"), event_row("b")])
    with backend.sessions() as session, session.begin():
        insert = insert_ignoring_duplicates(session, EVENTS, "source_event_id")
        added = [
            session.execute(insert.values(**event_row(key)).returning(EVENTS.c.source_event_id))
            .scalars()
            .all()
            for key in ("b", "c", "a", "c")
        ]
    assert added == [[], ["c"], [], []]
    with backend.sessions() as session:
        assert sorted(session.scalars(select(Event.source_event_id))) == ["a", "b", "c"]


def test_bulk_insert_stores_values_as_the_orm_reads_them_and_ids_come_back_in_order(
    backend: Backend,
) -> None:
    emails = ["zoë@example.com", "al@example.com", "ann.o'neil@example.com"]
    rows = [
        {
            "email": email,
            "email_key": email,
            "first_name": name,
            "last_name": "",
            "status": "active",
            "attributes": {"City": "Boulder", "visits": n, "note": None},
            "consent_source": "import",
            "consent_ip": "",
            "consent_text": "",
        }
        for n, (email, name) in enumerate(zip(emails, ["Zoë", "Al", "Ann"], strict=True))
    ]
    with backend.sessions() as session, session.begin():
        shared = {"created_at": WHEN, "updated_at": WHEN, "consent_at": None}
        bulk_insert(session, SUBSCRIBERS, rows, shared=shared)
        ids = inserted_ids(session, SUBSCRIBERS, emails, "email_key")
    with backend.sessions() as session:
        stored = {s.id: s for s in session.scalars(select(Subscriber))}
    assert sorted(stored) == sorted(ids) and len(set(ids)) == 3
    for sid, email, row in zip(ids, emails, rows, strict=True):
        person = stored[sid]
        assert (person.email, person.first_name) == (email, row["first_name"])
        assert person.attributes == row["attributes"]
        assert person.created_at == WHEN and person.consent_at is None


def test_an_erased_subscribers_id_is_never_given_to_anyone_else(backend: Backend) -> None:
    with backend.sessions() as session, session.begin():
        first = add_subscriber(session, "ann@example.com").id
        newest = add_subscriber(session, "ben@example.com").id
    with backend.sessions() as session, session.begin():
        delete_subscriber(session, "ben@example.com")  # the newest: SQLite would reuse its id
    with backend.sessions() as session, session.begin():
        carla = add_subscriber(session, "carla@example.com").id
    assert carla > newest > first
