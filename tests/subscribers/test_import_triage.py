"""A large re-import sorted in the validation processes (subscribers/import_triage.py) reports
and writes exactly what the one-process import does, on SQLite and PostgreSQL.

The file mixes what a re-import meets: rows that change nothing, new names and tags, people
unsubscribed or deleted (kept suppressed), an address written in other case, new people, a typo
in a domain, bad addresses and statuses, duplicates of settled and unsettled rows across chunks,
and a row that unsubscribes someone. Small chunks put several of them in flight at once.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import StatusChange, Subscriber, SubscriberTag, Suppression, utcnow
from mailer.subscribers import csv_import, csv_source, import_triage
from mailer.subscribers.csv_import import ImportReport, import_csv
from mailer.subscribers.csv_source import parse_row
from mailer.subscribers.import_lookup import stored_as_text
from mailer.subscribers.normalize import email_hash
from mailer.subscribers.service import add_subscriber, delete_subscriber, unsubscribe

pytestmark = [pytest.mark.both_databases, pytest.mark.slow]

NAMES = ["Maria", "James", "Priya", "Tom", "Aiko", "Lena"]
HEADER = "Email,First Name,Last Name,Tags,Status\n"


def person(i: int, first: str | None = None, tags: str = "patients", email: str = "") -> str:
    return f"{email or f'p{i}@example.com'},{first or NAMES[i % len(NAMES)]},Lopez{i},{tags},\n"


def list_before() -> str:
    rows = [person(i) for i in range(600)]
    rows.append("tom@gmial.com,Tom,Typo,patients,\n")  # stored with its typo: warned again
    return HEADER + "".join(rows)


def file_again() -> str:
    rows = [person(i) for i in range(400)]  # unchanged
    rows += [person(i, first="Renamed") for i in range(400, 450)]  # updated: a name
    rows += [person(i, tags="patients;workshop") for i in range(450, 470)]  # updated: a tag
    rows += [person(i, email=f"P{i}@Example.COM") for i in range(470, 480)]  # other case
    # 480-484 unsubscribed, 485-486 deleted, 595 in the suppressions: kept suppressed; 490
    # comes last, unsubscribing
    # 597 has the one tag "patients,vip" (as `--tag "patients,vip"` stores it): updated, two tags
    rows += [
        person(i, tags="patients;vip" if i == 597 else "patients")
        for i in range(480, 600)
        if i not in (482, 490)
    ]
    rows.insert(400 + 50 + 20 + 10 + 2, person(482)[:-1] + "unsubscribed\n")  # as stored, too
    rows += [person(1000 + i, tags="newsletter") for i in range(100)]  # imported
    rows += [
        "tom@gmial.com,Tom,Typo,patients,\n",  # unchanged, with a typo warning
        "new@hotmial.com,New,Typo,,\n",  # imported, with a typo warning
        "broken@,Broken,Row,,\n",  # invalid address
        "P5@EXAMPLE.COM,Again,Dup,,\n",  # duplicate of a row that changes nothing
        "p1003@example.com,Again,Dup,,\n",  # duplicate of a new row
        "p7@example.com,Maybe,Status,,maybe\n",  # unknown status
        "p420@example.com,Renamed,Lopez420,patients,\n",  # duplicate of an updated row
    ]
    rows.append("p490@example.com,,,,unsubscribed\n")  # suppressed by this file
    return HEADER + "".join(rows)


def start(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as session, session.begin():
        for model in (StatusChange, SubscriberTag, Suppression, Subscriber):
            session.execute(delete(model))
    before = tmp_path / "before.csv"
    before.write_text(list_before(), encoding="utf-8")
    import_csv(sessions, before, workers=0)
    with sessions() as session, session.begin():
        for i in range(480, 485):
            unsubscribe(session, f"p{i}@example.com", source="test")
        for i in range(485, 487):
            delete_subscriber(session, f"p{i}@example.com")
        # On the list and in the suppressions too: whatever led there, the import keeps away.
        key = "p595@example.com"
        session.add(Suppression(email_hash=email_hash(key), reason="test", created_at=utcnow()))
        comma = session.scalars(select(Subscriber).where(Subscriber.email == "p597@example.com"))
        comma.one().tags = [SubscriberTag(tag="patients,vip")]


def state(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """The list without ids and times: each person's fields, tags and history."""
    with sessions() as session:
        people = session.scalars(select(Subscriber)).all()
        history = session.execute(
            select(StatusChange.subscriber_id, StatusChange.new_status, StatusChange.reason)
        ).all()
        emails = {p.id: p.email for p in people}
        return {
            "people": {
                p.email: (
                    p.email_key,
                    p.first_name,
                    p.last_name,
                    p.status,
                    p.attributes,
                    sorted(p.tag_names),
                )
                for p in people
            },
            "history": sorted((emails[sid], status, reason) for sid, status, reason in history),
            "suppressions": sorted(session.scalars(select(Suppression.email_hash))),
        }


def outcome(report: ImportReport) -> dict[str, Any]:
    return {
        **report.as_dict(),
        "sample_rejects": [(r.line, r.reason, r.email) for r in report.sample_rejects],
    }


@pytest.mark.parametrize("tags", [(), ("patients",), ("spring",)])
def test_a_re_import_sorted_in_the_workers_matches_the_one_process_import(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tags: tuple[str, ...],
) -> None:
    path = tmp_path / "again.csv"
    path.write_text(file_again(), encoding="utf-8")

    start(sessions, tmp_path)
    alone = import_csv(sessions, path, tags=tags, workers=0, chunk_size=97)
    after_alone = state(sessions)

    start(sessions, tmp_path)

    def not_here(*_args: object) -> None:
        raise AssertionError("a re-import with workers parses its rows in them")

    monkeypatch.setattr(csv_import, "parse_row", not_here)
    sorted_out = import_csv(sessions, path, tags=tags, workers=2, chunk_size=97)

    assert outcome(sorted_out) == outcome(alone)
    assert state(sessions) == after_alone
    # What the file holds, so that the comparison is not between two empty reports.
    unchanged = 400 + 10 + 110 + 1  # as they were, other case, after the suppressed, typo
    if tags == ("spring",):  # a new tag for everyone
        assert (alone.unchanged, alone.updated) == (0, 71 + unchanged)
    else:
        assert (alone.unchanged, alone.updated) == (unchanged, 71)
    assert (alone.imported, alone.kept_suppressed, alone.suppressed_by_file) == (101, 8, 1)
    assert alone.rejected == 5
    assert [w.line for w in alone.typo_warnings] == [701, 702]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_person_added_while_the_file_is_imported_is_merged_once(
    sessions: sessionmaker[Session], tmp_path: Path, workers: int
) -> None:
    """Someone signs up between the look-up of their chunk and its write (in this process, one
    chunk ahead; in a validation process, up to four): a row the look-up did not find is looked
    up again before the write, so the person is updated once, never inserted twice. (It fails
    with that second look-up left out: the unique key stops the insert.)"""
    path = tmp_path / "again.csv"
    path.write_text(file_again(), encoding="utf-8")
    start(sessions, tmp_path)
    late = "p1050@example.com"  # a new row of the file, line 650, the seventh chunk of 97

    def sign_up_before_their_chunk(report: ImportReport, line: int) -> None:
        # After the sixth chunk: the seventh is looked up (one chunk ahead) or sorted (four).
        if line < 650 <= line + 97:
            with sessions() as session, session.begin():
                add_subscriber(session, late, first_name="Early", consent_source="signup form")

    report = import_csv(
        sessions, path, workers=workers, chunk_size=97, on_chunk=sign_up_before_their_chunk
    )

    assert (report.imported, report.updated, report.rejected) == (100, 72, 5)
    with sessions() as session:
        found = session.scalars(select(Subscriber).where(Subscriber.email == late)).all()
    assert [(p.first_name, p.last_name, sorted(p.tag_names)) for p in found] == [
        (NAMES[1050 % len(NAMES)], "Lopez1050", ["newsletter"])
    ]


def test_on_one_cpu_the_rows_are_sorted_in_the_importing_process(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sorting in the validation processes costs more CPU in all: with one CPU it would only
    make the re-import slower, so the importing process parses and decides as before."""
    path = tmp_path / "again.csv"
    path.write_text(file_again(), encoding="utf-8")
    start(sessions, tmp_path)
    parsed: list[int] = []

    def counted(columns: Any, line: int, cells: list[str]) -> Any:
        parsed.append(line)
        return parse_row(columns, line, cells)

    monkeypatch.setattr(import_triage, "usable_cpus", lambda: 1)
    monkeypatch.setattr(csv_import, "parse_row", counted)
    report = import_csv(sessions, path, workers=2, chunk_size=97)

    assert len(parsed) == report.rows  # every record, here
    assert report.unchanged == 400 + 10 + 110 + 1


def test_a_chunk_a_validation_process_cannot_read_is_done_in_the_importing_process(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The validation processes open connections of their own: where the server refuses them
    (its connection limit, say) while the importing process has its own, the import still
    finishes, with the same report, and says why it was slower."""
    path = tmp_path / "again.csv"
    path.write_text(file_again(), encoding="utf-8")
    start(sessions, tmp_path)
    alone = import_csv(sessions, path, workers=0, chunk_size=97)
    after_alone = state(sessions)
    start(sessions, tmp_path)
    real = import_triage.triage_context

    def unreachable(*args: Any) -> Any:
        context = real(*args)
        assert context is not None, "this import sorts its rows in the validation processes"
        return dataclasses.replace(context, url="postgresql+psycopg://nobody@127.0.0.1:9/none")

    monkeypatch.setattr(csv_import, "triage_context", unreachable)
    with caplog.at_level(logging.WARNING, logger="mailer.subscribers.csv_import"):
        report = import_csv(sessions, path, workers=2, chunk_size=97)

    assert outcome(report) == outcome(alone)
    assert state(sessions) == after_alone
    assert "a validation process could not read the list (OperationalError)" in caplog.text
    assert "nobody" not in caplog.text


def test_a_stored_person_as_text_is_the_row_that_changes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The validation processes settle most rows by comparing one text: the stored person's as
    the database gives it (tags gathered in code-point order, attributes as stored) must be
    the row's, or every row would take the slow way (still right, so no other test sees it)."""
    path = tmp_path / "one.csv"
    path.write_text(
        "Email,First Name,Last Name,Tags,City,Note\n"
        "maria@example.com,Maria,Lopez,workshop;patients;VIP;Ärzte,Boulder,Prefers mornings\n"
        "tom@example.com,Tom,Becker,,,\n",
        encoding="utf-8",
    )
    import_csv(sessions, path, workers=0)
    with path.open(encoding="utf-8", newline="") as stream:
        _columns, records = csv_source.read_rows(path, stream)
        rows = [row for row in records if isinstance(row, csv_source.Row)]
    with sessions() as session:
        stored = stored_as_text(session, [row.email for row in rows])
    assert [stored[row.email] for row in rows] == [
        import_triage._as_text(row, set(row.tags)) for row in rows
    ]
    assert stored["maria@example.com"][5] == "patients\nvip\nworkshop\närzte"  # tags are lower case
