"""A large import into an empty SQLite list: one transaction, secondary indexes rebuilt once.

store.bulk_load drops the non-unique indexes of the subscriber tables inside the import's one
transaction and re-creates them before its commit. Whatever happens, the indexes are there
afterwards: after an import that rebuilt them, after one that failed half-way (nothing written),
after one that failed while rebuilding them. A list that is not empty, and PostgreSQL, keep the
chunked commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from mailer.store import bulk_load
from mailer.store.models import StatusChange, Subscriber, SubscriberTag
from mailer.subscribers import csv_import
from mailer.subscribers.csv_import import ImportReport, import_csv
from mailer.subscribers.search import search
from mailer.subscribers.service import add_subscriber

ROWS = 10
SEARCH_INDEXES = {"ix_subscribers_first_name", "ix_subscribers_last_name", "ix_subscribers_status"}


def big_file(tmp_path: Path) -> Path:
    lines = [f"person{i}@example.com,Pat{i},Lee{i},patients;vip" for i in range(ROWS)]
    path = tmp_path / "list.csv"
    path.write_text("Email,First Name,Last Name,Tags\n" + "\n".join(lines) + "\n")
    return path


def indexes(sessions: sessionmaker[Session]) -> set[tuple[str, str]]:
    """Every index of the subscriber tables with its SQL (None for the automatic ones)."""
    with sessions() as session:
        rows = session.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
                "('subscribers', 'subscriber_tags', 'status_changes')"
            )
        )
        return {(name, sql) for name, sql in rows}


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def dropped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the indexes each bulk load dropped (the spy lets them go as usual)."""
    names: list[str] = []
    real = bulk_load.begin_bulk_load

    def spy(connection: Connection, tables: Any) -> list[bulk_load.DroppedIndex]:
        found = real(connection, tables)
        names.extend(index.name for index in found)
        return found

    monkeypatch.setattr(csv_import, "begin_bulk_load", spy)
    return names


def test_import_into_an_empty_list_rebuilds_the_indexes_it_dropped(
    tmp_path: Path, sessions: sessionmaker[Session], dropped: list[str]
) -> None:
    before = indexes(sessions)
    report = import_csv(sessions, big_file(tmp_path), chunk_size=3, one_transaction=True)
    assert report.imported == ROWS
    assert set(dropped) >= SEARCH_INDEXES, "the search indexes were dropped while loading"
    assert "ix_subscriber_tags_tag" in dropped
    assert not any(name.startswith("sqlite_autoindex") for name in dropped), "unique ones stay"
    assert indexes(sessions) == before
    assert count(sessions, Subscriber) == ROWS
    assert count(sessions, SubscriberTag) == 2 * ROWS
    assert count(sessions, StatusChange) == ROWS
    found = search(sessions, "lee7")
    assert [person.email for person in found.people] == ["person7@example.com"]


def test_a_failed_import_writes_nothing_and_leaves_every_index(
    tmp_path: Path, sessions: sessionmaker[Session], dropped: list[str]
) -> None:
    before = indexes(sessions)

    def crash(report: ImportReport, line: int) -> None:
        if report.rows > 3:  # after the second chunk
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        import_csv(sessions, big_file(tmp_path), chunk_size=3, on_chunk=crash, one_transaction=True)
    assert dropped, "the import ran as a bulk load"
    assert count(sessions, Subscriber) == 0
    assert count(sessions, StatusChange) == 0
    assert indexes(sessions) == before
    report = import_csv(sessions, big_file(tmp_path), chunk_size=3, one_transaction=True)
    assert report.imported == ROWS and count(sessions, Subscriber) == ROWS


def test_a_failure_while_rebuilding_the_indexes_rolls_back_the_drops_too(
    tmp_path: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = indexes(sessions)

    def half_rebuilt(connection: Connection, dropped: list[bulk_load.DroppedIndex]) -> None:
        bulk_load.end_bulk_load(connection, dropped[:1])
        raise RuntimeError("killed while building the indexes")

    monkeypatch.setattr(csv_import, "end_bulk_load", half_rebuilt)
    with pytest.raises(RuntimeError):
        import_csv(sessions, big_file(tmp_path), chunk_size=3, one_transaction=True)
    assert count(sessions, Subscriber) == 0
    assert indexes(sessions) == before


def test_a_list_that_is_not_empty_keeps_the_chunked_commits(
    tmp_path: Path, sessions: sessionmaker[Session], dropped: list[str]
) -> None:
    with sessions() as session, session.begin():
        add_subscriber(session, "first@example.com")

    def crash(report: ImportReport, line: int) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        import_csv(sessions, big_file(tmp_path), chunk_size=3, on_chunk=crash, one_transaction=True)
    assert dropped == []
    assert count(sessions, Subscriber) == 1 + 3, "the first chunk was committed"


def test_large_files_take_the_one_transaction_path_when_the_size_decides(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    dropped: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(csv_import, "ONE_TRANSACTION_FROM_LINES", ROWS - 1)
    import_csv(sessions, big_file(tmp_path), chunk_size=3, one_transaction=None)  # as the CLI
    assert set(dropped) >= SEARCH_INDEXES


def test_by_default_chunks_are_committed_so_progress_can_be_written_meanwhile(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    dropped: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The staff pages' import job (app/imports.py) records its progress from on_chunk through
    another session: under one import-long transaction that write would wait on its lock."""
    monkeypatch.setattr(csv_import, "ONE_TRANSACTION_FROM_LINES", ROWS - 1)
    with sessions.begin() as session:
        session.execute(text("CREATE TABLE progress (lines INTEGER)"))

    def record(report: ImportReport, line: int) -> None:
        with sessions.begin() as session:
            session.execute(text("PRAGMA busy_timeout=300"))  # fail fast instead of after 30 s
            session.execute(text("INSERT INTO progress VALUES (:line)"), {"line": line})

    report = import_csv(sessions, big_file(tmp_path), chunk_size=3, on_chunk=record)
    assert report.imported == ROWS and dropped == []
    with sessions() as session:
        assert session.scalar(text("SELECT count(*) FROM progress")) == 4


@pytest.mark.both_databases
def test_small_files_and_postgresql_commit_chunk_by_chunk(
    tmp_path: Path, sessions: sessionmaker[Session], dropped: list[str]
) -> None:
    def crash(report: ImportReport, line: int) -> None:
        raise RuntimeError("power cut")

    sqlite = sessions.kw["bind"].dialect.name == "sqlite"
    with pytest.raises(RuntimeError):  # small file: the default is chunked commits
        import_csv(sessions, big_file(tmp_path), chunk_size=3, on_chunk=crash)
    assert count(sessions, Subscriber) == 3 and dropped == []
    if not sqlite:  # PostgreSQL: never a bulk load, even when asked
        with sessions() as session, session.begin():
            session.execute(text("DELETE FROM status_changes"))
            session.execute(text("DELETE FROM subscriber_tags"))
            session.execute(text("DELETE FROM subscribers"))
        with pytest.raises(RuntimeError):
            import_csv(
                sessions, big_file(tmp_path), chunk_size=3, on_chunk=crash, one_transaction=True
            )
        assert count(sessions, Subscriber) == 3 and dropped == []
