"""Subscribers one at a time, suppression, audiences and export; UTC storage on both backends."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import String, Text, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError
from mailer.store.models import Base, StatusChange, Subscriber, SubscriberTag, Suppression
from mailer.subscribers.csv_export import export_csv
from mailer.subscribers.csv_import import import_csv
from mailer.subscribers.normalize import email_hash
from mailer.subscribers.segments import (
    Audience,
    audience_count,
    audience_query,
    is_suppressed,
    iter_audience,
)
from mailer.subscribers.service import (
    add_subscriber,
    delete_subscriber,
    find_subscriber,
    unsubscribe,
)
from mailer.subscribers.status import By, move


def test_add_normalizes_and_records_consent_and_history(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        added = add_subscriber(
            session, "  Jane.Doe@EXAMPLE.com ", first_name="Jane", tags=["Patients", "patients"]
        )
    with sessions() as session:
        jane = find_subscriber(session, "jane.doe@example.COM")
        assert jane is not None and jane.id == added.id
        assert (jane.email, jane.email_key) == ("Jane.Doe@example.com", "jane.doe@example.com")
        assert jane.tag_names == ["patients"]
        assert jane.consent_source == "manual" and jane.consent_at is not None
        assert [(h.old_status, h.new_status) for h in jane.history] == [(None, "active")]
    with sessions() as session, pytest.raises(InputError, match="already on the list"):
        add_subscriber(session, "JANE.DOE@example.com")
    with sessions() as session, pytest.raises(InputError, match="not a usable email address"):
        add_subscriber(session, "jane@@example.com")


def test_unsubscribe_keeps_history_with_reason(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        add_subscriber(session, "max@example.com")
    with sessions() as session, session.begin():
        _, changed = unsubscribe(session, "MAX@example.com", reason="replied STOP", source="email")
        assert changed
    with sessions() as session, session.begin():
        _, changed = unsubscribe(session, "max@example.com")
        assert not changed
    with sessions() as session:
        history = session.scalars(select(StatusChange).order_by(StatusChange.id)).all()
        assert [(h.old_status, h.new_status, h.reason, h.source) for h in history][1:] == [
            ("active", "unsubscribed", "replied STOP", "email")
        ]
        assert is_suppressed(session, "Max@Example.com")
    with sessions() as session, pytest.raises(InputError, match="not on the list"):
        unsubscribe(session, "nobody@example.com")


def test_delete_leaves_only_a_hash(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        sub = add_subscriber(session, "erase.me@example.com", first_name="Erin", tags=["x"])
        move(session, sub, "bounced", by=By.PROVIDER, reason="hard bounce", source="webhook")
    with sessions() as session, session.begin():
        assert delete_subscriber(session, "Erase.Me@example.com")
    with sessions() as session:
        for model in (Subscriber, SubscriberTag, StatusChange):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        hashes = session.scalars(select(Suppression.email_hash)).all()
        assert hashes == [email_hash("erase.me@example.com")]
        # The address is nowhere in any text column of any table.
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String | Text):
                    found = session.scalar(
                        select(func.count())
                        .select_from(table)
                        .where(func.lower(column).contains("erase.me"))
                    )
                    assert found == 0, f"{table.name}.{column.name}"
        assert is_suppressed(session, "erase.me@example.com")
        assert not is_suppressed(session, "someone.else@example.com")
    with sessions() as session, pytest.raises(InputError, match="deleted"):
        add_subscriber(session, "ERASE.ME@example.com")
    with sessions() as session, session.begin():
        # Deleting an address that is not on the list still suppresses it, once.
        assert not delete_subscriber(session, "erase.me@example.com")
        assert not delete_subscriber(session, "never@example.com")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 2


def _people(sessions: sessionmaker[Session]) -> dict[str, int]:
    specs = [
        ("a@example.com", ["patients"], "active"),
        ("b@example.com", ["patients", "workshop"], "active"),
        ("c@example.com", ["workshop"], "active"),
        ("d@example.com", [], "active"),
        ("e@example.com", ["patients"], "unsubscribed"),
        ("f@example.com", ["patients"], "pending"),
        ("g@example.com", ["patients"], "complained"),
    ]
    ids = {}
    with sessions() as session, session.begin():
        for email, tags, status in specs:
            ids[email[0]] = add_subscriber(session, email, tags=tags, status=status).id
    return ids


def _emails(session: Session, audience: Audience | None, **kwargs: int) -> list[str]:
    return [s.email[0] for s in session.scalars(audience_query(audience, **kwargs))]


def test_audience_query_tags_status_and_paging(sessions: sessionmaker[Session]) -> None:
    ids = _people(sessions)
    with sessions() as session:
        assert _emails(session, None) == ["a", "b", "c", "d"]
        assert _emails(session, Audience()) == ["a", "b", "c", "d"]
        assert _emails(session, Audience(any_of=["Patients"])) == ["a", "b"]
        assert _emails(session, Audience(none_of=["workshop"])) == ["a", "d"]
        assert _emails(session, Audience(any_of=["patients", "workshop"])) == ["a", "b", "c"]
        both = Audience(any_of=["patients"], none_of=["workshop"])
        assert _emails(session, both) == ["a"]
        assert _emails(session, Audience(), after_id=ids["a"], limit=2) == ["b", "c"]
        assert _emails(session, Audience(), after_id=ids["d"]) == []
        assert audience_count(session, Audience(any_of=["patients"])) == 2
        batches = list(iter_audience(session, Audience(), batch_size=3))
        assert [[s.email[0] for s in batch] for batch in batches] == [["a", "b", "c"], ["d"]]


def test_export_neutralizes_formulas_and_round_trips(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "Email,First Name,Last Name,Tags,Balance,Note\n"
        'carol@example.com,"=HYPERLINK(""http://evil.example"")",+1 555,vip;patients,-42,@SUM(A1)\n'
        "dan@example.com,Dan,Diaz,,,plain\n",
        encoding="utf-8",
    )
    import_csv(sessions, source)
    target = tmp_path / "out.csv"

    assert export_csv(sessions, target) == 2

    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with target.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.DictReader(stream))
    carol, dan = rows
    assert carol["Email"] == "carol@example.com"
    assert carol["First Name"] == '\'=HYPERLINK("http://evil.example")'
    assert carol["Last Name"] == "'+1 555"
    assert carol["Balance"] == "'-42"
    assert carol["Note"] == "'@SUM(A1)"
    assert carol["Tags"] == "patients;vip"
    assert carol["Status"] == "active"
    assert dan["Note"] == "plain" and dan["Balance"] == ""
    # The stored values are untouched.
    with sessions() as session:
        stored = find_subscriber(session, "carol@example.com")
        assert stored is not None and stored.first_name.startswith("=HYPERLINK")
    # Our own export imports back as "unchanged" (apart from the neutralized cells).
    assert import_csv(sessions, tmp_path / "out.csv").rejected == 0


@pytest.mark.both_databases
def test_postgres_and_sqlite_store_utc(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        add_subscriber(session, "tz@example.com")
    with sessions() as session:
        sub = find_subscriber(session, "tz@example.com")
        assert sub is not None and sub.created_at.utcoffset() is not None
        assert session.execute(text("select 1")).scalar() == 1
