"""`mailer subscribers import`: the hostile CSV, re-runs, dry runs, tags, crashes, bad files.

The merge, the bulk insert, chunked commits and worker processes run on SQLite and on PostgreSQL
(marked both_databases); parsing and file handling on SQLite.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError
from mailer.store.models import StatusChange, Subscriber, SubscriberTag, Suppression
from mailer.subscribers import csv_source
from mailer.subscribers.csv_import import CHUNK_SIZE, ImportReport, import_csv
from mailer.subscribers.normalize import email_hash
from mailer.subscribers.service import add_subscriber, delete_subscriber, resubscribe, unsubscribe
from mailer.workspace import Workspace
from tests.delivery_helpers import MAILER

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


@pytest.mark.both_databases
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


@pytest.mark.both_databases
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


@pytest.mark.both_databases
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


@pytest.mark.both_databases
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
    first = import_csv(sessions, path, tags=["spring"])
    assert counts(first) == (1, 0, 0, 0, 0) and first.suppressed_by_file == 1  # ann
    assert counts(import_csv(sessions, path, tags=["spring"])) == (0, 0, 1, 0, 1)
    with sessions() as session:
        mia = session.scalars(select(Subscriber).where(Subscriber.email == "mia@example.com")).one()
        mia.first_name = "Maria"
        mia.attributes = {"City": "Denver"}
        session.execute(
            SubscriberTag.__table__.delete().where(SubscriberTag.subscriber_id == mia.id)
        )
        ann = session.scalars(select(Subscriber).where(Subscriber.email == "ann@example.com")).one()
        resubscribe(
            session,
            ann,
            consent_source="test",
            consent_text="asked to come back",
            reason="asked to come back",
            source="test",
        )
        session.commit()

    again = import_csv(sessions, path, tags=["spring"])

    assert counts(again) == (0, 1, 0, 0, 0) and again.suppressed_by_file == 1
    mia = by_email(sessions, "mia@example.com")
    ann = by_email(sessions, "ann@example.com")
    assert mia is not None and ann is not None
    assert (mia.first_name, mia.attributes) == ("Mia", {"City": "Boulder"})
    assert mia.tag_names == ["spring", "workshop"]
    assert ann.status == "unsubscribed"
    assert counts(import_csv(sessions, path, tags=["spring"])) == (0, 0, 1, 0, 1)


@pytest.mark.both_databases
def test_status_column_records_unsubscribes_but_never_reactivates(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = write(tmp_path / "a.csv", "Email,Status\nann@example.com,subscribed\n")
    import_csv(sessions, path)
    write(path, "Email,Status\nann@example.com,unsubscribed\nben@example.com,cleaned\n")
    report = import_csv(sessions, path)
    assert counts(report) == (0, 0, 0, 0, 0) and report.suppressed_by_file == 2
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


@pytest.mark.both_databases
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


@pytest.mark.both_databases
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


@pytest.mark.both_databases
@pytest.mark.slow
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


# Mailchimp's audience export (a zip of three files), columns as Mailchimp writes them.
MAILCHIMP_HEAD = [
    "Email Address",
    "First Name",
    "Last Name",
    "Address",
    "Phone Number",
    "Birthday",
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
]
MAILCHIMP_SUBSCRIBED = [*MAILCHIMP_HEAD, "LAST_CHANGED", "LEID", "EUID", "NOTES", "TAGS"]
MAILCHIMP_UNSUBSCRIBED = [
    *MAILCHIMP_HEAD,
    "UNSUB_TIME",
    "UNSUB_CAMPAIGN_TITLE",
    "UNSUB_CAMPAIGN_ID",
    "UNSUB_REASON",
    "UNSUB_REASON_OTHER",
    "LEID",
    "EUID",
    "NOTES",
    "TAGS",
]
MAILCHIMP_CLEANED = [
    *MAILCHIMP_HEAD,
    "CLEAN_TIME",
    "CLEAN_CAMPAIGN_TITLE",
    "CLEAN_CAMPAIGN_ID",
    "LEID",
    "EUID",
    "NOTES",
    "TAGS",
]


def mailchimp_export(path: Path, header: list[str], people: list[dict[str, str]]) -> Path:
    """A file shaped as Mailchimp exports: every cell quoted where needed, CRLF, TAGS as
    '"patients","vip"' (written by the csv module as '\"\"\"patients\"\",\"\"vip\"\"\"')."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(header)
        for person in people:
            row = {
                "MEMBER_RATING": "2",
                "OPTIN_TIME": "2024-03-01 09:00:00",
                "OPTIN_IP": "203.0.113.7",
                "LEID": "123456",
                "EUID": "ab12cd34ef",
                **person,
            }
            if "UNSUB_TIME" in header:
                row.setdefault("UNSUB_TIME", "2025-01-10 08:00:00")
                row.setdefault("UNSUB_CAMPAIGN_TITLE", "January newsletter")
            if "CLEAN_TIME" in header:
                row.setdefault("CLEAN_TIME", "2025-02-02 10:00:00")
            writer.writerow([row.get(name, "") for name in header])
    return path


def history_of(sessions: sessionmaker[Session], email: str) -> list[tuple[object, ...]]:
    with sessions() as session:
        person = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        return [
            (c.old_status, c.new_status, c.source)
            for c in session.scalars(
                select(StatusChange)
                .where(StatusChange.subscriber_id == person.id)
                .order_by(StatusChange.id)
            )
        ]


@pytest.mark.both_databases
def test_mailchimp_exports_import_as_they_are(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """Issue 10 item 15: Mailchimp's unsubscribed and cleaned exports imported everyone as
    active, and TAGS cells kept their quotes. Now a file with UNSUB_TIME makes its people
    unsubscribed, one with CLEAN_TIME bounced (recognized by the column, whatever the file is
    called): an active person is suppressed with a history row naming the file, an unknown
    one is added suppressed, nobody is ever made active again, and tags come in clean."""
    with sessions() as session, session.begin():
        add_subscriber(session, "bob@example.com", first_name="Bob")
        add_subscriber(session, "ann@example.com", first_name="Ann")
        add_subscriber(session, "una@example.com")
        unsubscribe(session, "una@example.com", reason="asked by phone")
    tags = '"patients","vip"'
    subscribed = mailchimp_export(
        tmp_path / "subscribed_members_export_4f2a9c.csv",
        MAILCHIMP_SUBSCRIBED,
        [
            {"Email Address": "ann@example.com", "First Name": "Ann", "TAGS": tags},
            {"Email Address": "cara@example.com", "First Name": "Cara", "TAGS": '"Back Pain"'},
        ],
    )
    report = import_csv(sessions, subscribed)
    ann = by_email(sessions, "ann@example.com")
    cara = by_email(sessions, "cara@example.com")
    assert ann is not None and ann.tag_names == ["patients", "vip"] and ann.status == "active"
    assert cara is not None and cara.tag_names == ["back pain"] and cara.status == "active"
    assert cara.consent_at is not None and cara.consent_ip == "203.0.113.7"
    assert counts(report) == (1, 1, 0, 0, 0) and report.suppressed_by_file == 0

    # Named neither way: recognized by its UNSUB_TIME column.
    unsubscribed = mailchimp_export(
        tmp_path / "people-who-left.csv",
        MAILCHIMP_UNSUBSCRIBED,
        [
            {"Email Address": "bob@example.com", "First Name": "Bob", "TAGS": tags},
            {"Email Address": "dan@example.com", "First Name": "Dan", "UNSUB_REASON": "Spam"},
            {"Email Address": "una@example.com"},
        ],
    )
    report = import_csv(sessions, unsubscribed)
    bob = by_email(sessions, "bob@example.com")
    dan = by_email(sessions, "dan@example.com")
    assert bob is not None and bob.status == "unsubscribed" and bob.tag_names == ["patients", "vip"]
    assert dan is not None and dan.status == "unsubscribed"
    assert counts(report) == (0, 0, 0, 0, 1)  # una was unsubscribed already
    assert report.suppressed_by_file == 2
    assert dan.attributes["UNSUB_REASON"] == "Spam"
    source = "import:people-who-left.csv"
    assert history_of(sessions, "bob@example.com")[-1] == ("active", "unsubscribed", source)
    assert history_of(sessions, "dan@example.com") == [(None, "unsubscribed", source)]

    cleaned = mailchimp_export(
        tmp_path / "bounced.csv",
        MAILCHIMP_CLEANED,
        [{"Email Address": "ann@example.com"}, {"Email Address": "eli@example.com"}],
    )
    report = import_csv(sessions, cleaned)
    assert counts(report) == (0, 0, 0, 0, 0) and report.suppressed_by_file == 2
    assert history_of(sessions, "ann@example.com")[-1] == (
        "active",
        "bounced",
        "import:bounced.csv",
    )
    eli = by_email(sessions, "eli@example.com")
    assert eli is not None and eli.status == "bounced"

    # By its name alone (a trimmed copy without the UNSUB_TIME column).
    by_name = write(
        tmp_path / "unsubscribed_members_export_4f2a9c.csv",
        '"Email Address","First Name"\r\ncara@example.com,Cara\r\n',
    )
    assert import_csv(sessions, by_name).suppressed_by_file == 1
    assert (cara := by_email(sessions, "cara@example.com")) is not None
    assert cara.status == "unsubscribed"

    # The subscribed export again: nobody the other files suppressed becomes active.
    report = import_csv(sessions, subscribed)
    assert counts(report) == (0, 0, 0, 0, 2) and report.suppressed_by_file == 0
    with sessions() as session:
        statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
    assert statuses == {
        "bob@example.com": "unsubscribed",
        "ann@example.com": "bounced",
        "una@example.com": "unsubscribed",
        "cara@example.com": "unsubscribed",
        "dan@example.com": "unsubscribed",
        "eli@example.com": "bounced",
    }


def no_address_in_any_name(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        for person in session.scalars(select(Subscriber)):
            texts = [person.first_name, person.last_name, *map(str, person.attributes.values())]
            assert not any("@" in text for text in texts), (person.email, texts)


def rejected_lines(report: ImportReport) -> dict[int, tuple[str, str]]:
    assert report.rejects_path is not None
    with report.rejects_path.open(encoding="utf-8-sig", newline="") as stream:
        return {int(r["line"]): (r["reason"], r["email"]) for r in csv.DictReader(stream)}


def test_a_stray_quote_rejects_the_lines_it_swallowed_and_keeps_the_rest(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """Issue 10 item 16: a quote opened by mistake ran on over the next rows, which became
    Jane's first name ("rejected 0"), so those addresses would have been mailed to Jane. Now
    the physical lines it swallowed are rejected by number, with a reason naming the quote's
    line, the rows after it are imported as usual, and a real multi-line cell (a postal
    address, no @) is still accepted."""
    path = write(
        tmp_path / "stray.csv",
        "Email,First Name,Last Name,Notes\r\n"  # 1
        "ann@example.com,Ann,Able,\r\n"  # 2 imported
        'jane@example.com,"Jane,Doe,\r\n'  # 3 the stray quote
        "bob@example.com,Bob,Brown,\r\n"  # 4 swallowed
        "cid@example.com,Cid,Cole,\r\n"  # 5 swallowed
        'dee@example.com,Dee,"Dunn, Jr.",\r\n'  # 6 its first quote ends the run-on field
        'fay@example.com,Fay,Fox,"12 Main St\r\nApt 4\r\nBoulder, CO"\r\n'  # 7-9 imported
        "gus@example.com,Gus,Gray,\r\n",  # 10 imported
    )
    report = import_csv(sessions, path)

    assert counts(report) == (3, 0, 0, 4, 0)
    reasons = rejected_lines(report)
    assert sorted(reasons) == [3, 4, 5, 6]
    assert all("an unclosed quote on line 3 swallowed lines 3..6" in r for r, _ in reasons.values())
    assert [reasons[n][1] for n in (3, 4, 5, 6)] == [
        "jane@example.com",
        "bob@example.com",
        "cid@example.com",
        "dee@example.com",
    ]
    with sessions() as session:
        emails = set(session.scalars(select(Subscriber.email)))
    assert emails == {"ann@example.com", "fay@example.com", "gus@example.com"}
    fay = by_email(sessions, "fay@example.com")
    assert fay is not None and fay.attributes["Notes"].splitlines() == [
        "12 Main St",
        "Apt 4",
        "Boulder, CO",
    ]
    no_address_in_any_name(sessions)

    # Fixed and imported again: the rejected rows come in, nothing else changes.
    path.write_bytes(path.read_bytes().replace(b'"Jane,Doe', b"Jane,Doe"))
    again = import_csv(sessions, path)
    assert counts(again) == (4, 0, 3, 0, 0)
    jane = by_email(sessions, "jane@example.com")
    assert jane is not None and (jane.first_name, jane.last_name) == ("Jane", "Doe")


def test_a_stray_quote_never_closed_or_over_many_lines(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """Issue 10 item 16: a quote that is never closed swallows the rest of the file: every
    line is rejected by number, none becomes a name. A quoted field over more than
    MAX_FIELD_LINES lines is a stray quote even with no address in it."""
    lines = [f"p{n}@example.com,P{n}" for n in range(6)]
    lines[2] = 'p2@example.com,"P2'
    report = import_csv(sessions, write(tmp_path / "open.csv", "Email,Name\n" + "\n".join(lines)))
    assert counts(report) == (2, 0, 0, 4, 0)
    assert sorted(rejected_lines(report)) == [4, 5, 6, 7]
    no_address_in_any_name(sessions)

    note = "\n".join(["a long note"] * (csv_source.MAX_FIELD_LINES + 1))
    text = f'Email,Notes\nq1@example.com,"{note}"\nq2@example.com,"two\nlines"\n'
    report = import_csv(sessions, write(tmp_path / "notes.csv", text))
    assert counts(report) == (1, 0, 0, csv_source.MAX_FIELD_LINES + 1, 0)
    assert by_email(sessions, "q2@example.com") is not None


def test_a_stray_quote_past_the_field_size_limit_is_rejected_and_reading_goes_on(
    tmp_path: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 16: a run-on field that outgrows the csv module's field size limit (10 MB
    in real use; 2,000 characters here) stopped the import with "cannot read the CSV here".
    The lines it swallowed are rejected and the lines after it imported."""
    old_limit = csv.field_size_limit(2_000)
    monkeypatch.setattr(csv_source, "MAX_FIELD", 2_000)
    try:
        lines = [f"r{n:03d}@example.com,{'x' * 80}" for n in range(60)]
        lines[5] = '"r005@example.com,' + "x" * 80
        report = import_csv(
            sessions, write(tmp_path / "big.csv", "Email,Name\n" + "\n".join(lines))
        )
    finally:
        csv.field_size_limit(old_limit)
    rejected = sorted(rejected_lines(report))
    assert rejected[0] == 7 and rejected == list(range(7, rejected[-1] + 1))
    assert 7 + 20 <= rejected[-1] < 61  # 2,000 characters is about 24 lines of 82
    assert report.imported == 60 - len(rejected)
    with sessions() as session:
        emails = set(session.scalars(select(Subscriber.email)))
    assert emails == {f"r{n - 2:03d}@example.com" for n in range(2, 62) if n not in rejected}
    no_address_in_any_name(sessions)


def _family(root: int) -> dict[int, str]:
    """Every descendant of process ``root`` now: pid -> its start time (to tell a reused pid)."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    waiting = [root]
    while waiting:
        for pid, started in parents.get(waiting.pop(), []):
            found[pid] = started
            waiting.append(pid)
    return found


def _running(pid: int, started: str) -> bool:
    """Still the same process, and not a zombie waiting for a parent to reap it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.slow
def test_killing_an_import_ends_its_worker_processes(
    workspace: Workspace,
    database_url: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    how: signal.Signals,
) -> None:
    """Issue 10 item 20: `mailer subscribers import` of a large file checks addresses in worker
    processes; killed with SIGKILL or SIGTERM, it left them (and the forkserver and resource
    tracker they kept alive) running for ever. Now, within a few seconds, none of its
    processes remains, and the list holds only whole committed chunks, each with its history."""
    rows = 200_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as stream:
        stream.write("Email,First Name\n")
        stream.writelines(f"reader{n}@example{n % 40}.com,Reader{n}\n" for n in range(rows))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE__URL"] = database_url
    process = subprocess.Popen(
        [MAILER, "--workspace", str(workspace.root), "subscribers", "import", str(path)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        family: dict[int, str] = {}
        deadline = time.monotonic() + 60
        # The workers are the forkserver's children: wait until two of them run.
        while len(family) < 2 + 2 and process.poll() is None:
            assert time.monotonic() < deadline, "no worker processes appeared"
            time.sleep(0.05)
            family = _family(process.pid)
        assert process.poll() is None, "the import ended before it could be killed"
        time.sleep(0.5)  # let it commit a chunk or two
        family.update(_family(process.pid))
        process.send_signal(how)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 5
    while (left := [pid for pid, started in family.items() if _running(pid, started)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    for pid in left:  # leave nothing behind, then fail
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"{len(left)} of the import's {len(family)} processes still run"

    with sessions() as session:
        people = session.scalar(select(func.count()).select_from(Subscriber)) or 0
        history = session.scalar(select(func.count()).select_from(StatusChange)) or 0
    assert people < rows and people % CHUNK_SIZE == 0
    assert history == people
