"""`mailer subscribers ...` as staff run it: exit statuses, output streams, files written.

Runs the real entry point (`mailer.cli.main`, through the `mailer` fixture) in-process on a
workspace from `mailer init`, with MAILER_DATABASE__URL pointing at the SQLite or PostgreSQL test
database.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.store.db import make_engine, session_factory
from mailer.store.models import Subscriber, Suppression
from mailer.subscribers.normalize import email_hash
from mailer.workspace import Workspace
from tests.cli_runner import Mailer


@pytest.fixture
def mailer(
    mailer: Mailer, workspace: Workspace, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Mailer:
    """The `mailer` fixture on this workspace and the SQLite or PostgreSQL test database."""
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    return mailer


def _count(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return int(session.scalar(select(func.count()).select_from(Subscriber)) or 0)
    finally:
        engine.dispose()


def test_import_sample_twice_then_list_json(mailer: Mailer, workspace: Workspace) -> None:
    sample = workspace.subscribers_dir / "sample.csv"
    first = mailer("subscribers", "import", str(sample), "--tag", "patients")
    assert first.exit_code == 0, first.stderr
    assert "imported" in first.stdout and "5" in first.stdout
    again = mailer("subscribers", "import", str(sample))
    assert again.exit_code == 0
    assert "unchanged" in again.stdout

    listed = mailer("subscribers", "list", "--json", "--tag", "patients")
    assert listed.exit_code == 0
    assert listed.stderr == ""
    records = json.loads(listed.stdout)  # one JSON document, nothing else on stdout
    assert len(records) == 5
    assert {r["email"] for r in records} >= {"maria.lopez@example.com"}
    assert all("patients" in r["tags"] for r in records)

    table = mailer("subscribers", "list", "--status", "active")
    assert table.exit_code == 0 and "5 subscribers" in table.stdout


def test_import_with_rejects_exits_0_and_writes_report(mailer: Mailer, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("Email\nok@example.com\nnot an address\n", encoding="utf-8")
    run = mailer("subscribers", "import", str(path))
    assert run.exit_code == 0, run.stderr
    assert "rejected" in run.stdout and "line 3" in run.stdout
    rejects = tmp_path / "people.rejects.csv"
    with rejects.open(encoding="utf-8-sig", newline="") as stream:
        assert [row["line"] for row in csv.DictReader(stream)] == ["3"]


def test_mailchimp_unsubscribed_export_is_reported_as_suppressed_by_this_file(
    mailer: Mailer, tmp_path: Path
) -> None:
    """Issue 10 item 15: the import summary of Mailchimp's unsubscribed export says its people
    were suppressed by this file, and imports nobody."""
    path = tmp_path / "unsubscribed_members_export_4f2a9c.csv"
    path.write_text(
        '"Email Address","First Name",UNSUB_TIME,TAGS\r\n'
        'lee@example.com,Lee,"2025-01-10 08:00:00","""patients"",""vip"""\r\n',
        encoding="utf-8",
    )
    run = mailer("subscribers", "import", str(path))
    assert run.exit_code == 0, run.stderr
    summary = {
        line.strip().rsplit(" ", 1)[0].strip(): line.strip().rsplit(" ", 1)[1]
        for line in run.stdout.splitlines()
        if line.startswith("  ") and line.strip()[-1:].isdigit()
    }
    assert summary["imported"] == "0" and summary["suppressed by this file"] == "1"
    listed = json.loads(mailer("subscribers", "list", "--json").stdout)
    assert [(r["email"], r["status"], r["tags"]) for r in listed] == [
        ("lee@example.com", "unsubscribed", ["patients", "vip"])
    ]


def test_dry_run_writes_nothing(mailer: Mailer, tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text("Email\nok@example.com\nbad\n", encoding="utf-8")
    run = mailer("subscribers", "import", str(path), "--dry-run")
    assert run.exit_code == 0
    assert "Dry run: nothing was written." in run.stdout
    assert _count(database_url) == 0
    assert not (tmp_path / "people.rejects.csv").exists()


def test_binary_file_is_a_clean_error(mailer: Mailer, tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    run = mailer("subscribers", "import", str(path))
    assert run.exit_code == 1
    assert "binary" in run.stderr and str(path) in run.stderr and "hint" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert _count(database_url) == 0


def test_missing_file_and_bad_status_exit_codes(mailer: Mailer, tmp_path: Path) -> None:
    missing = mailer("subscribers", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    bad_status = mailer("subscribers", "list", "--status", "gone")
    assert bad_status.exit_code == 2 and "unknown status" in bad_status.stderr
    no_args = mailer("subscribers", "import")
    assert no_args.exit_code == 2


def test_add_unsubscribe_delete(mailer: Mailer, database_url: str) -> None:
    added = mailer("subscribers", "add", "Jane@Example.com", "--first-name", "Jane", "--tag", "vip")
    assert added.exit_code == 0 and "Jane@example.com" in added.stdout
    duplicate = mailer("subscribers", "add", "jane@example.com")
    assert duplicate.exit_code == 1 and "already on the list" in duplicate.stderr
    invalid = mailer("subscribers", "add", "jane@")
    assert invalid.exit_code == 1 and "not a usable email address" in invalid.stderr
    assert "Traceback" not in invalid.stderr

    off = mailer("subscribers", "unsubscribe", "JANE@example.com")
    assert off.exit_code == 0 and "now unsubscribed" in off.stdout
    listed = json.loads(mailer("subscribers", "list", "--json").stdout)
    assert [(r["email"], r["status"]) for r in listed] == [("Jane@example.com", "unsubscribed")]

    gone = mailer("subscribers", "delete", "jane@example.com")
    assert gone.exit_code == 0 and "only a hash remains" in gone.stdout
    assert json.loads(mailer("subscribers", "list", "--json").stdout) == []
    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        assert session.scalars(select(Suppression.email_hash)).all() == [
            email_hash("jane@example.com")
        ]
    engine.dispose()
    back = mailer("subscribers", "add", "jane@example.com")
    assert back.exit_code == 1 and "deleted" in back.stderr


def test_export_command(mailer: Mailer, workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("Email,First Name\nx@example.com,=1+2\n", encoding="utf-8")
    assert mailer("subscribers", "import", str(path)).exit_code == 0
    out = tmp_path / "out.csv"
    run = mailer("subscribers", "export", str(out))
    assert run.exit_code == 0 and "Exported 1 subscriber to" in run.stdout
    with out.open(encoding="utf-8-sig", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["First Name"] == "'=1+2"
    missing_dir = mailer("subscribers", "export", str(tmp_path / "no" / "such" / "out.csv"))
    assert missing_dir.exit_code == 1 and "does not exist" in missing_dir.stderr
