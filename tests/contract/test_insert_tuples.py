"""bulk.insert_tuples (the import's insert of new subscribers) stores what the ORM would, on SQLite
and PostgreSQL: each column is converted once per distinct value, so equal values of different
types (True and 1 in a JSON column) and equal instants in different time zones must still come
back as they should; None stays NULL; the SQLite-only JSON writer gives the same documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, select

from mailer.store.models import StatusChange, Subscriber
from mailer.subscribers.bulk import _convert_column, insert_tuples, inserted_ids
from mailer.subscribers.import_plan import HISTORY_COLUMNS, NEW_COLUMNS, json_text
from tests.contract.conftest import Backend

SUBSCRIBERS = cast(Table, Subscriber.__table__)
HISTORY = cast(Table, StatusChange.__table__)
WHEN = datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=UTC)
SAME_INSTANT = WHEN.astimezone(timezone(timedelta(hours=-6)))  # equal to WHEN, other offset


def new_row(email: str, attributes: dict[str, Any], consent_at: datetime | None) -> tuple[Any, ...]:
    values = {
        "email": email,
        "email_key": email,
        "first_name": "Pat",
        "last_name": "",
        "status": "active",
        "attributes": attributes,
        "consent_source": "import:test.csv",
        "consent_at": consent_at,
        "consent_ip": "",
        "consent_text": "",
    }
    return tuple(values[name] for name in NEW_COLUMNS)


def test_insert_tuples_stores_values_as_the_orm_reads_them(backend: Backend) -> None:
    people = [
        ("a@example.com", {"vip": True}, WHEN),
        ("b@example.com", {"vip": 1}, SAME_INSTANT),
        ("c@example.com", {"City": "Zoë's"}, None),
        ("d@example.com", {}, WHEN),
    ]
    rows = [new_row(*person) for person in people]
    emails = [email for email, _, _ in people]
    with backend.sessions() as session, session.begin():
        insert_tuples(
            session,
            SUBSCRIBERS,
            NEW_COLUMNS,
            rows,
            shared={"created_at": WHEN, "updated_at": WHEN},
            sqlite_text={"attributes": json_text},
        )
        ids = inserted_ids(session, SUBSCRIBERS, emails, "email_key")
        history = [(sid, None, "active", "imported", "import:test.csv") for sid in ids]
        insert_tuples(session, HISTORY, HISTORY_COLUMNS, history, shared={"changed_at": WHEN})
    with backend.sessions() as session:
        stored = {s.email: s for s in session.scalars(select(Subscriber))}
        changes = list(session.scalars(select(StatusChange)))
    for email, attributes, consent_at in people:
        person = stored[email]
        assert person.attributes == attributes
        assert type(person.attributes.get("vip")) is type(attributes.get("vip"))  # True, not 1
        assert person.consent_at == consent_at
        assert person.created_at == WHEN
    assert sorted(c.subscriber_id for c in changes) == sorted(ids)
    assert {(c.old_status, c.new_status, c.changed_at) for c in changes} == {(None, "active", WHEN)}


def test_equal_values_of_different_types_are_converted_apart() -> None:
    """True == 1 and they hash alike, yet a JSON column stores "true" and "1"."""
    converted = _convert_column([True, 1, None, True, 1.0], json.dumps)
    assert converted == ["true", "1", None, "true", "1.0"]
