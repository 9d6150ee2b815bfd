"""Each chunk's look-up runs two chunks ahead in a thread (subscribers/import_lookup.py).

What it reads may predate the chunks written in between; the import's answers must not change:
a later row with a key an earlier chunk added is still a duplicate, a stored person's changes
are still merged, and the thread ends with the import, also when it fails.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import Subscriber
from mailer.subscribers import csv_import, import_lookup
from mailer.subscribers.csv_import import ImportReport, import_csv
from mailer.subscribers.service import add_subscriber


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of every look-up started ahead (the spy lets them run as usual)."""
    calls: list[list[str]] = []
    real = import_lookup.Lookahead.start

    def spy(self: import_lookup.Lookahead, keys: list[str]) -> Any:
        calls.append(keys)
        return real(self, keys)

    monkeypatch.setattr(import_lookup.Lookahead, "start", spy)
    return calls


@pytest.mark.both_databases
def test_looking_ahead_changes_no_answer(
    tmp_path: Path, sessions: sessionmaker[Session], started: list[list[str]]
) -> None:
    with sessions() as session, session.begin():
        add_subscriber(session, "kept@example.com", first_name="Kim")
    rows = [
        "new1@example.com,Ann",
        "new2@example.com,Bo",
        "kept@example.com,Kimberly",  # a stored person, changed
        "new3@example.com,Cy",
        "NEW1@example.com,Ann again",  # chunk 3: the key chunk 1 added, fetched before it was
        "new4@example.com,Di",
    ]
    path = tmp_path / "list.csv"
    path.write_text("Email,First Name\n" + "\n".join(rows) + "\n")
    report = import_csv(sessions, path, chunk_size=2)
    assert len(started) == 3, "every chunk was looked up ahead"
    assert (report.imported, report.updated, report.rejected) == (4, 1, 1)
    assert report.sample_rejects[0].line == 6
    assert "duplicate of line 2" in report.sample_rejects[0].reason
    with sessions() as session:
        names = dict(session.execute(select(Subscriber.email, Subscriber.first_name)).all())
    assert names["kept@example.com"] == "Kimberly" and names["new1@example.com"] == "Ann"
    again = import_csv(sessions, path, chunk_size=2)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 5)


def test_the_thread_ends_with_the_import_when_it_fails(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, session.begin():
        add_subscriber(session, "kept@example.com")
    path = tmp_path / "list.csv"
    path.write_text("Email\n" + "\n".join(f"p{i}@example.com" for i in range(9)) + "\n")

    def crash(report: ImportReport, line: int) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        import_csv(sessions, path, chunk_size=2, on_chunk=crash)
    assert not [t for t in threading.enumerate() if t.name.startswith("import-lookup")]


def test_an_empty_list_looks_nothing_up(
    tmp_path: Path, sessions: sessionmaker[Session], started: list[list[str]]
) -> None:
    path = tmp_path / "list.csv"
    path.write_text("Email\n" + "\n".join(f"p{i}@example.com" for i in range(5)) + "\n")
    assert csv_import.import_csv(sessions, path, chunk_size=2).imported == 5
    assert started == []
