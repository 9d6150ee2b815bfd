"""`mailer subscribers import`: the hostile CSV, re-runs, dry runs, tags, crashes, bad files.

Every test here runs on SQLite and on PostgreSQL (the `sessions` fixture).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.audience.csv_import import ImportReport, import_csv
from mailer.audience.normalize import email_hash
from mailer.audience.service import add_subscriber, delete_subscriber, set_status, unsubscribe
from mailer.errors import InputError
from mailer.models import StatusChange, Subscriber, SubscriberTag, Suppression

LONG_NOTE = "x" * 10_000

# Line numbers (physical lines, header is line 1) are in the comments.
HOSTILE = (
    "\ufeffE-mail Address,First Name,Surname,Tags,Notes\r\n"
    "alice@example.com,Alice,Archer,Patients,\r\n"  # 2 imported
    "Foo@X.com,Foo,One,,\r\n"  # 3 imported as Foo@x.com
    "foo@x.com,Foo,Two,,\r\n"  # 4 duplicate of line 3
    "\r\n"  # 5 blank
    "not-an-address,Bad,Row,,\r\n"  # 6 invalid
    '"bob@example.com","Robert ""Bob""","Smith, Jr.","patients;workshop","Line one\r\n'
    'line two, with a comma"\r\n'  # 7-8 imported
    'carol@example.com,"=HYPERLINK(""http://evil.example"")",Cole,,\r\n'  # 9 imported
    "unsub@example.com,Una,Subscribed,,\r\n"  # 10 kept suppressed
    "gone@example.com,Gone,Person,,\r\n"  # 11 kept suppressed (deleted)
    f"dave@example.com,Dave,Long,,{LONG_NOTE}\r\n"  # 12 field too long
    ",No,Email,,\r\n"  # 13 missing email
    "ALICE@EXAMPLE.COM,Alice,Again,,\r\n"  # 14 duplicate of line 2
    "eve@example.com,Eve,Evans,,"  # 15 imported, no final newline
)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[object, ...]]]:
    with sessions() as session:
        return {
            "subscribers": [
                tuple(row)
                for row in session.execute(
                    select(
                        Subscriber.id,
                        Subscriber.email,
                        Subscriber.email_key,
                        Subscriber.first_name,
                        Subscriber.last_name,
                        Subscriber.status,
                        Subscriber.attributes,
                        Subscriber.updated_at,
                    ).order_by(Subscriber.id)
                )
            ],
            "tags": [
                tuple(row)
                for row in session.execute(
                    select(SubscriberTag.subscriber_id, SubscriberTag.tag).order_by(
                        SubscriberTag.subscriber_id, SubscriberTag.tag
                    )
                )
            ],
            "history": [
                tuple(row)
                for row in session.execute(
                    select(StatusChange.id, StatusChange.subscriber_id, StatusChange.new_status)
                )
            ],
        }


def by_email(sessions: sessionmaker[Session], email: str) -> Subscriber | None:
    with sessions() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email == email)).first()


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Subscriber)) or 0)


def counts(report: ImportReport) -> tuple[int, int, int, int, int]:
    return (
        report.imported,
        report.updated,
        report.unchanged,
        report.rejected,
        report.kept_suppressed,
    )


@pytest.fixture
def hostile(tmp_path: Path, sessions: sessionmaker[Session]) -> Path:
    """The hostile file, with unsub@ already unsubscribed and gone@ deleted."""
    with sessions() as session, session.begin():
        add_subscriber(session, "unsub@example.com", first_name="Una")
        unsubscribe(session, "unsub@example.com", reason="asked by phone")
        add_subscriber(session, "gone@example.com")
        delete_subscriber(session, "gone@example.com")
    return write(tmp_path / "hostile.csv", HOSTILE)


def test_hostile_csv_summary_rejects_and_rows(
    hostile: Path, sessions: sessionmaker[Session]
) -> None:
    report = import_csv(sessions, hostile)

    assert counts(report) == (5, 0, 0, 5, 2)
    assert report.rows == 12
    assert report.rejects_path == hostile.with_name("hostile.rejects.csv")
    with report.rejects_path.open(encoding="utf-8-sig", newline="") as stream:
        rejects = list(csv.DictReader(stream))
    reasons = {int(r["line"]): r["reason"] for r in rejects}
    assert sorted(reasons) == [4, 6, 12, 13, 14]
    assert reasons[4] == "duplicate of line 3"
    assert reasons[6].startswith("invalid address: ") and "@" in reasons[6]
    assert "column 'Notes'" in reasons[12] and "10,000" in reasons[12]
    assert reasons[13] == "missing email"
    assert reasons[14] == "duplicate of line 2"

    alice = by_email(sessions, "alice@example.com")
    assert alice is not None and alice.tag_names == ["patients"]
    assert alice.consent_source == "import:hostile.csv"
    foo = by_email(sessions, "Foo@x.com")
    assert foo is not None and (foo.email_key, foo.last_name) == ("foo@x.com", "One")
    bob = by_email(sessions, "bob@example.com")
    assert bob is not None
    assert (bob.first_name, bob.last_name) == ('Robert "Bob"', "Smith, Jr.")
    assert bob.tag_names == ["patients", "workshop"]
    assert bob.attributes["Notes"].replace("\r\n", "\n") == "Line one\nline two, with a comma"
    carol = by_email(sessions, "carol@example.com")
    assert carol is not None and carol.first_name == '=HYPERLINK("http://evil.example")'
    assert by_email(sessions, "eve@example.com") is not None
    assert by_email(sessions, "dave@example.com") is None

    unsub = by_email(sessions, "unsub@example.com")
    assert unsub is not None and unsub.status == "unsubscribed"
    assert by_email(sessions, "gone@example.com") is None
    with sessions() as session:
        assert session.get(Suppression, email_hash("gone@example.com")) is not None
        history = session.scalars(
            select(StatusChange).where(StatusChange.subscriber_id == alice.id)
        ).all()
    assert [(h.old_status, h.new_status) for h in history] == [(None, "active")]
    assert count(sessions) == 6  # five imported plus unsub


def test_reimport_changes_nothing(hostile: Path, sessions: sessionmaker[Session]) -> None:
    import_csv(sessions, hostile)
    before = snapshot(sessions)

    again = import_csv(sessions, hostile)

    assert counts(again) == (0, 0, 5, 5, 2)
    assert snapshot(sessions) == before


def test_dry_run_writes_nothing(hostile: Path, sessions: sessionmaker[Session]) -> None:
    before = snapshot(sessions)

    report = import_csv(sessions, hostile, dry_run=True)

    assert counts(report) == (5, 0, 0, 5, 2)
    assert report.rejects_path is None
    assert not hostile.with_name("hostile.rejects.csv").exists()
    assert snapshot(sessions) == before


def test_tag_option_and_updates_merge(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    path = write(
        tmp_path / "list.csv",
        "Email,Name,Tags,Clinic Visit\nmia@example.com,Mia Rossi Bell,workshop,2026-05-01\n"
        "leo@example.com,Leo,,\n",
    )
    first = import_csv(sessions, path, tags=["Spring  Campaign"])
    assert counts(first) == (2, 0, 0, 0, 0)
    mia = by_email(sessions, "mia@example.com")
    assert mia is not None
    assert (mia.first_name, mia.last_name) == ("Mia", "Rossi Bell")
    assert mia.tag_names == ["spring campaign", "workshop"]
    assert mia.attributes == {"Clinic Visit": "2026-05-01"}

    # A later file with another tag and a new attribute updates; empty cells erase nothing.
    write(path, "Email,First Name,City\nmia@example.com,,Boulder\nleo@example.com,Leo,\n")
    second = import_csv(sessions, path, tags=["patients"])
    assert counts(second) == (0, 2, 0, 0, 0)
    mia = by_email(sessions, "mia@example.com")
    assert mia is not None and mia.first_name == "Mia"
    assert mia.attributes == {"Clinic Visit": "2026-05-01", "City": "Boulder"}
    assert mia.tag_names == ["patients", "spring campaign", "workshop"]
    assert counts(import_csv(sessions, path, tags=["patients"])) == (0, 0, 2, 0, 0)


def test_reimport_restores_what_changed_since_the_last_import(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """Edits made outside the import (names, tags, status) are not mistaken for "unchanged":
    importing the same file again reports the row updated and writes the file's values back."""
    path = write(
        tmp_path / "same.csv",
        "Email,First Name,Tags,City,Status\n"
        "mia@example.com,Mia,workshop,Boulder,\n"
        "ann@example.com,Ann,,,unsubscribed\n",
    )
    assert counts(import_csv(sessions, path, tags=["spring"])) == (2, 0, 0, 0, 0)
    assert counts(import_csv(sessions, path, tags=["spring"])) == (0, 0, 1, 0, 1)
    with sessions() as session:
        mia = session.scalars(select(Subscriber).where(Subscriber.email == "mia@example.com")).one()
        mia.first_name = "Maria"
        mia.attributes = {"City": "Denver"}
        session.execute(
            SubscriberTag.__table__.delete().where(SubscriberTag.subscriber_id == mia.id)
        )
        ann = session.scalars(select(Subscriber).where(Subscriber.email == "ann@example.com")).one()
        set_status(session, ann, "active", reason="asked to come back", source="test")
        session.commit()

    again = import_csv(sessions, path, tags=["spring"])

    assert counts(again) == (0, 2, 0, 0, 0)
    mia = by_email(sessions, "mia@example.com")
    ann = by_email(sessions, "ann@example.com")
    assert mia is not None and ann is not None
    assert (mia.first_name, mia.attributes) == ("Mia", {"City": "Boulder"})
    assert mia.tag_names == ["spring", "workshop"]
    assert ann.status == "unsubscribed"
    assert counts(import_csv(sessions, path, tags=["spring"])) == (0, 0, 1, 0, 1)


def test_status_column_records_unsubscribes_but_never_reactivates(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = write(tmp_path / "a.csv", "Email,Status\nann@example.com,subscribed\n")
    import_csv(sessions, path)
    write(path, "Email,Status\nann@example.com,unsubscribed\nben@example.com,cleaned\n")
    report = import_csv(sessions, path)
    assert counts(report) == (1, 1, 0, 0, 0)
    write(path, "Email,Status\nann@example.com,active\n")
    assert counts(import_csv(sessions, path)) == (0, 0, 0, 0, 1)
    ann = by_email(sessions, "ann@example.com")
    ben = by_email(sessions, "ben@example.com")
    assert ann is not None and ann.status == "unsubscribed"
    assert ben is not None and ben.status == "bounced"
    with sessions() as session:
        changes = session.scalars(
            select(StatusChange)
            .where(StatusChange.subscriber_id == ann.id)
            .order_by(StatusChange.id)
        ).all()
    assert [(c.old_status, c.new_status) for c in changes] == [
        (None, "active"),
        ("active", "unsubscribed"),
    ]
    assert "line 2" in changes[1].reason


def test_crash_after_first_chunk_loses_nothing_and_rerun_finishes(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    lines = [f"person{i}@example.com,Person{i}" for i in range(7)]
    path = write(tmp_path / "big.csv", "Email,First Name\n" + "\n".join(lines) + "\n")

    def crash(report: ImportReport, line: int) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        import_csv(sessions, path, chunk_size=3, on_chunk=crash)
    assert count(sessions) == 3

    report = import_csv(sessions, path, chunk_size=3)
    assert counts(report) == (4, 0, 3, 0, 0)
    assert count(sessions) == 7
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(StatusChange)) == 7


def test_duplicates_across_chunks_name_the_first_line(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = write(
        tmp_path / "d.csv",
        "Email\na@example.com\nb@example.com\nc@example.com\nB@EXAMPLE.com\na@example.com\n",
    )
    report = import_csv(sessions, path, chunk_size=2)
    assert counts(report) == (3, 0, 0, 2, 0)
    assert [(r.line, r.reason) for r in report.sample_rejects] == [
        (5, "duplicate of line 3"),
        (6, "duplicate of line 2"),
    ]


def test_semicolon_delimited_and_full_name_column(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = write(tmp_path / "s.csv", "Name;Email Address;Given name\nJo Park;jo@example.com;\n")
    assert counts(import_csv(sessions, path)) == (1, 0, 0, 0, 0)
    jo = by_email(sessions, "jo@example.com")
    assert jo is not None and (jo.first_name, jo.last_name) == ("Jo", "Park")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00binary", "binary"),
        ("Email,Name\nren\u00e9@example.com,Ren\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b"Name,Phone\nJo,555-0100\n", "no email column"),
        (b"\xef\xbb\xbf\r\n\r\n", "empty"),
    ],
)
def test_unreadable_files_raise_input_error_and_write_nothing(
    tmp_path: Path, sessions: sessionmaker[Session], content: bytes, message: str
) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        import_csv(sessions, path)
    assert message in raised.value.message
    assert str(path) in raised.value.message
    assert raised.value.hint
    assert count(sessions) == 0
    assert not (tmp_path / "list.rejects.csv").exists()


def test_non_utf8_error_names_the_line(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(b"Email\na@example.com\nb@example.com\nz\xe9@example.com\n")
    with pytest.raises(InputError, match="line 4"):
        import_csv(sessions, path)
    assert count(sessions) == 0


def test_stale_rejects_file_is_removed_when_a_rerun_has_none(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = write(tmp_path / "x.csv", "Email\nbad\nok@example.com\n")
    report = import_csv(sessions, path)
    assert report.rejects_path is not None and report.rejects_path.exists()
    write(path, "Email\nok@example.com\n")
    assert import_csv(sessions, path).rejects_path is None
    assert not (tmp_path / "x.rejects.csv").exists()


def test_worker_processes_give_the_same_report(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    lines = [f"user{i}@example.com,User{i}" for i in range(1_200)]
    lines[700] = "user7@EXAMPLE.com,Again"  # duplicate of the row on line 9
    lines[900] = "broken@,Broken"
    path = write(tmp_path / "w.csv", "Email,First Name\n" + "\n".join(lines) + "\n")

    report = import_csv(sessions, path, workers=2, chunk_size=600)

    assert counts(report) == (1_198, 0, 0, 2, 0)
    assert [(r.line, r.reason.split(":")[0]) for r in report.sample_rejects] == [
        (702, "duplicate of line 9"),
        (902, "invalid address"),
    ]
    assert count(sessions) == 1_198
