"""`mailer subscribers import`: a CSV merged into the list, in committed chunks.

For each chunk of rows: the addresses are validated (email-validator, no DNS), duplicates within
the file rejected, existing subscribers fetched with one IN query on email_key, then new rows
bulk-inserted and changed rows updated in one transaction. A crash loses only the chunk in flight;
importing the file again finishes the job, and a file already imported changes nothing.

The exception, when the caller asks (``one_transaction``; the CLI does, the staff pages do not:
their progress is written to the database by another session, which would wait on the import's
lock): a large file (over ONE_TRANSACTION_FROM_LINES lines) into an empty list on SQLite is
written as one transaction, its secondary indexes dropped first and rebuilt once at the end
(store.bulk_load): all of it or nothing, indexes included. Other writers wait for its commit
(SQLite's busy timeout is 30 s: a sign-up during a longer first import is answered 503 with
Retry-After, web/app.py, and sent again by the person; a first import comes before anyone signs
up); readers see the empty list meanwhile.

Rules: an import never changes an existing person's status, except to record an unsubscribe,
bounce or complaint the file itself states (a Status column, or a Mailchimp unsubscribed or
cleaned export, see csv_source); unsubscribed, bounced, complained and deleted (hash in
suppressions) people are left alone and counted as "kept suppressed". A row the file marks
unsubscribed, bounced or complained is counted as "suppressed by this file", never as imported
or updated: it takes an active person off the list (with a history row) or adds someone unknown
as suppressed, never as active. Empty cells never erase what the list knows; tags are only ever
added. Whether a row may move a status is subscribers.status's ``may_move`` (by ``import``), and
the status UPDATEs are its ``move_many``.

This module reads the file in chunks and decides each row; :mod:`~mailer.subscribers.import_plan`
writes a chunk, :mod:`~mailer.subscribers.import_rejects` keeps the rejects file and
:mod:`~mailer.subscribers.import_workers` checks a large file's addresses in other processes,
:mod:`~mailer.subscribers.import_lookup` reads what the list holds for a chunk,
:mod:`~mailer.subscribers.import_triage` sorts a large re-import's rows in those processes
(parsed, looked up, the unchanged settled there) and :mod:`~mailer.subscribers.import_chunk`
holds a chunk between reading and writing, whichever process prepared it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.states import SubscriberStatus
from mailer.store.bulk_load import DroppedIndex, begin_bulk_load, end_bulk_load
from mailer.store.models import Subscriber, Suppression
from mailer.subscribers.csv_source import (
    Columns,
    Record,
    Row,
    RowError,
    check_file,
    parse_row,
    read_records,
)
from mailer.subscribers.dedupe import SeenKeys, key_digest
from mailer.subscribers.import_chunk import Finished, LookedUp, Triaging
from mailer.subscribers.import_lookup import existing_by_key, suppressed_keys
from mailer.subscribers.import_plan import Existing, Plan, kept_suppressed
from mailer.subscribers.import_rejects import RejectsFile, rejects_path_for
from mailer.subscribers.import_triage import (
    KEPT_SUPPRESSED,
    UNCHANGED,
    Outcome,
    TriageContext,
    triage,
    triage_context,
)
from mailer.subscribers.import_tuning import few_gc_passes, tune
from mailer.subscribers.import_workers import PARALLEL_FROM_LINES, executor_for
from mailer.subscribers.normalize import validate_batch
from mailer.subscribers.service import clean_tags
from mailer.subscribers.typos import TypoWarning

log = logging.getLogger(__name__)

CHUNK_SIZE = 5_000
SAMPLE_REJECTS = 20
# Files with more lines than this go into an empty SQLite list as one transaction (see above).
ONE_TRANSACTION_FROM_LINES = PARALLEL_FROM_LINES
# The tables whose secondary indexes such an import drops and rebuilds.
BULK_TABLES = ("subscribers", "subscriber_tags", "status_changes")
# Chunks handed to the validation processes ahead of the one being written, when they sort a
# re-import's rows (import_triage): enough to keep two of them busy while this process writes.
TRIAGE_AHEAD = 4


@dataclass
class ImportReport:
    path: Path
    dry_run: bool = False
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    kept_suppressed: int = 0
    suppressed_by_file: int = 0  # rows the file marks unsubscribed, bounced or complained
    rejects_path: Path | None = None
    total_lines: int = 0  # physical lines in the file, for progress bars
    sample_rejects: list[RowError] = field(default_factory=list)
    typo_warnings: list[TypoWarning] = field(default_factory=list)  # imported, but listed

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "dry_run": self.dry_run,
            "rows": self.rows,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "kept_suppressed": self.kept_suppressed,
            "suppressed_by_file": self.suppressed_by_file,
            "rejects_file": str(self.rejects_path) if self.rejects_path else None,
            "typo_warnings": [asdict(warning) for warning in self.typo_warnings],
        }


_Item = TypeVar("_Item")


def _chunks(rows: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _guess_keys(rows: list[Row]) -> list[str]:
    return [row.email.strip().lower() for row in rows]  # guess_key, inlined (1M calls)


class _Importer:
    def __init__(
        self,
        session: Session,
        source: str,
        tags: list[str],
        executor: Executor | None,
        lines: int = 0,
    ) -> None:
        self.session = session
        self.source = source
        self.extra_tags = tags
        self.executor = executor
        # Sized for the file's lines at once: growing to 1M keys step by step costs 2.3 s of CPU
        # against 1.5 s for the adds alone (measured at load 10).
        self.seen = SeenKeys(capacity=2 * lines + 2)
        self.has_suppressions = True
        # Into an empty list, a key can only meet a row of this same file (a duplicate, caught
        # by self.seen), so there is nothing to look up. Off again if another writer shows up.
        self.list_was_empty = False
        self.one_transaction = False  # chunks are not committed: the caller commits once

    # -- reading the list -------------------------------------------------------------------

    def _suppressed_keys(self, session: Session, keys: list[str]) -> set[str]:
        return suppressed_keys(session, keys) if self.has_suppressions else set()

    # -- one chunk, in two steps so workers check addresses while the last chunk is written ---

    def prepare(self, chunk: list[Row | RowError]) -> LookedUp:
        """Look the chunk's addresses up and start checking those the list does not hold as is.

        An address exactly as the list already stores it was validated when it was stored (and
        normalizing is idempotent), so it is not checked again: re-imports stay fast.
        """
        rows = [item for item in chunk if isinstance(item, Row)]
        keys = _guess_keys(rows)
        known: dict[str, Existing] = {}
        if not self.list_was_empty:
            known = existing_by_key(self.session, keys)
        outcomes: list[Outcome | None] = []
        pending: list[int] = []
        for index, (row, key) in enumerate(zip(rows, keys, strict=True)):
            existing = known.get(key)
            if existing is not None and existing.email == row.email:
                outcomes.append((row.email, key))
            else:
                outcomes.append(None)
                pending.append(index)
        futures = None
        if self.executor is not None and len(pending) >= 500:
            raws = [rows[i].email for i in pending]
            half = (len(raws) + 1) // 2
            futures = [
                self.executor.submit(validate_batch, raws[:half]),
                self.executor.submit(validate_batch, raws[half:]),
            ]
        return LookedUp(chunk, rows, known, outcomes, pending, futures)

    def triaging(
        self, context: TriageContext, columns: Columns, chunk: list[Record | RowError]
    ) -> Triaging:
        """Hand the chunk's records to a validation process to parse and sort (import_triage)."""
        assert self.executor is not None
        records = [item for item in chunk if not isinstance(item, RowError)]
        return Triaging(chunk, columns, self.executor.submit(triage, context, records))

    def finish(self, prepared: LookedUp | Triaging, write: bool) -> Finished:
        """Decide each row against the list as it is now, then write the chunk in one commit."""
        rejects = prepared.parse_rejects()
        counts = {
            UNCHANGED: 0,
            KEPT_SUPPRESSED: 0,
            "imported": 0,
            "updated": 0,
            "suppressed_by_file": 0,
        }
        known = prepared.known
        valid: list[tuple[Row, str, str]] = []
        in_chunk: dict[int, int] = {}  # joins self.seen only once the chunk is done
        seen_line = self.seen.get
        for line, raw, outcome, settled, row in prepared.entries():
            if isinstance(outcome, str):
                rejects.append(RowError(line, f"invalid address: {outcome}", raw))
                continue
            email, key = outcome
            digest = key_digest(key)
            earlier = in_chunk.get(digest) or seen_line(digest)
            if earlier is not None:
                rejects.append(RowError(line, f"duplicate of line {earlier}", raw))
                continue
            in_chunk[digest] = line
            if settled:
                counts[settled] += 1
            elif row is not None:  # always, unless settled
                valid.append((row, email, key))
        session = self.session
        # Keys the first look-up could not guess (normalizing changed the address), and those
        # of rows a validation process left to this one. Keys it did fetch cannot have changed
        # since: the chunks in between held no row with them, or this row would be a duplicate.
        recheck = [key for _, _, key in valid if key not in known]
        if recheck and not self.list_was_empty:
            known.update(existing_by_key(session, recheck))
        suppressed = self._suppressed_keys(session, [key for _, _, key in valid])
        plan = Plan(self.source, self.extra_tags)
        suppressing = SubscriberStatus.SUPPRESSED
        for row, email, key in valid:
            existing = known.get(key)
            if kept_suppressed(existing.status if existing else None, key in suppressed):
                counts[KEPT_SUPPRESSED] += 1
            elif existing is None:
                plan.add_new(row, email, key)
                counts["suppressed_by_file" if row.status in suppressing else "imported"] += 1
            elif plan.add_update(row, existing):
                counts["suppressed_by_file" if row.status in suppressing else "updated"] += 1
            else:
                counts[UNCHANGED] += 1
        if write:
            plan.execute(session)
            if not self.one_transaction:
                session.commit()
        else:
            session.rollback()
        for digest, line in in_chunk.items():
            self.seen.add(digest, line)
        rejects.sort(key=lambda r: r.line)
        return Finished(rejects, counts, prepared.typo_warnings({r.line for r in rejects}))


def import_csv(
    sessions: sessionmaker[Session],
    path: Path,
    *,
    tags: Sequence[str] = (),
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    rejects_dir: Path | None = None,
    workers: int | None = None,
    on_chunk: Callable[[ImportReport, int], None] | None = None,
    one_transaction: bool | None = False,
) -> ImportReport:
    """Import ``path`` into the list and report what happened, row by row.

    Raises InputError (nothing written) for a file that cannot be read as a subscriber CSV.
    ``tags`` go on every imported or updated row. ``dry_run`` writes nothing, not even the
    rejects file. ``rejects_dir`` is where the rejects file goes if the CSV's folder is read-only.
    ``workers`` validation processes (default: 2 for large files). ``on_chunk(report, lines)`` is
    called after each written chunk with the physical lines read so far (for progress bars).
    ``one_transaction``: write all as one transaction with indexes rebuilt at the end, if the list
    is empty and the database SQLite; None: so for files over ONE_TRANSACTION_FROM_LINES lines.
    Never with an ``on_chunk`` that writes to the database (it would wait on this import's lock).
    """
    extra_tags = clean_tags(tags)
    facts = check_file(path)
    if one_transaction is None:
        one_transaction = facts.lines > ONE_TRANSACTION_FROM_LINES
    report = ImportReport(path=path, dry_run=dry_run, total_lines=facts.lines)
    rejects_file = RejectsFile(None if dry_run else rejects_path_for(path, rejects_dir))
    with few_gc_passes(), path.open("r", encoding="utf-8-sig", newline="") as stream:
        columns, records = read_records(path, stream)
        executor = executor_for(facts.lines, workers)
        try:
            with sessions() as session:
                tune(session, large=True)
                try:
                    _run(
                        session,
                        report,
                        rejects_file,
                        columns,
                        records,
                        executor,
                        extra_tags,
                        chunk_size,
                        on_chunk,
                        one_transaction,
                    )
                finally:
                    session.rollback()
                    tune(session, large=False)
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            report.rejects_path = rejects_file.close()
    return report


def _run(
    session: Session,
    report: ImportReport,
    rejects_file: RejectsFile,
    columns: Columns,
    records: Iterator[Record | RowError],
    executor: Executor | None,
    extra_tags: list[str],
    chunk_size: int,
    on_chunk: Callable[[ImportReport, int], None] | None,
    one_transaction: bool,
) -> None:
    importer = _Importer(
        session, f"import:{report.path.name}"[:100], extra_tags, executor, report.total_lines
    )
    importer.has_suppressions = session.scalar(select(Suppression.email_hash).limit(1)) is not None
    importer.list_was_empty = session.scalar(select(Subscriber.id).limit(1)) is None
    dropped: list[DroppedIndex] | None = None
    if (
        one_transaction
        and importer.list_was_empty
        and not report.dry_run
        and session.get_bind().dialect.name == "sqlite"
    ):
        dropped = begin_bulk_load(session.connection(), BULK_TABLES)
        # Checked again under the write lock: a writer may have added someone just before.
        if session.scalar(select(Subscriber.id).limit(1)) is None:
            importer.one_transaction = True
        else:
            session.rollback()  # the indexes come back with it
            importer.list_was_empty, dropped = False, None
    context = None
    if importer.executor is not None and not importer.list_was_empty:
        context = triage_context(session, columns, importer.extra_tags, importer.has_suppressions)
    prepare: Callable[[list[Any]], LookedUp | Triaging]
    if context is not None:
        # Re-importing into a list: the validation processes parse and sort the chunks, as many
        # ahead as keep both busy (import_triage).
        chunks: Iterator[list[Any]] = _chunks(records, chunk_size)
        ahead = TRIAGE_AHEAD

        def prepare(chunk: list[Any]) -> LookedUp | Triaging:
            return importer.triaging(context, columns, chunk)

    else:
        parsed = (
            item if isinstance(item, RowError) else parse_row(columns, *item) for item in records
        )
        chunks = _chunks(parsed, chunk_size)
        # One chunk ahead: its address checks run in the workers while this one is written.
        # (No look-up ahead in a thread: its Python half shares the interpreter lock with this
        # thread, and a re-import of 300,000 rows took 5.9-6.5 s with it, 5.5 s without, quiet,
        # alternating runs, 2026-12-02.)
        ahead = 1
        prepare = importer.prepare
    waiting = deque(prepare(chunk) for chunk in islice(chunks, ahead))
    while waiting:
        prepared = waiting.popleft()
        upcoming = next(chunks, None)
        if upcoming is not None:
            waiting.append(prepare(upcoming))
        finished = _finish_with_retry(importer, prepared, not report.dry_run)
        _tally(report, prepared.records, finished)
        rejects_file.write(finished.rejects)
        if on_chunk is not None:
            on_chunk(report, prepared.last_line)
    if dropped is not None:
        # SQLite's sorter, building each index, takes as much memory as the page cache: with the
        # import's 32 MB the importing process peaked at 223 MB (1,000,000 rows), over the
        # 200 MB goal; the default cache's 2 MB sorts in runs on disk, no slower (raw sqlite3:
        # 3.2 s of CPU for the rebuild against 4.1 s).
        tune(session, large=False)
        end_bulk_load(session.connection(), dropped)
        session.commit()


def _tally(report: ImportReport, records: int, finished: Finished) -> None:
    rejects, counts = finished.rejects, finished.counts
    report.rows += records
    report.rejected += len(rejects)
    report.imported += counts["imported"]
    report.updated += counts["updated"]
    report.unchanged += counts[UNCHANGED]
    report.kept_suppressed += counts[KEPT_SUPPRESSED]
    report.suppressed_by_file += counts["suppressed_by_file"]
    room = SAMPLE_REJECTS - len(report.sample_rejects)
    report.sample_rejects.extend(rejects[: max(room, 0)])
    report.typo_warnings.extend(finished.typo_warnings)


def _finish_with_retry(importer: _Importer, prepared: LookedUp | Triaging, write: bool) -> Finished:
    """Another process may add one of the chunk's addresses between our read and our insert:
    the chunk then rolls back whole and is looked up and planned again, in this process.

    A chunk a validation process could not sort for want of its database (a connection the
    server refused, a read that failed) is done here instead, as a small file's would be.
    """
    if isinstance(prepared, Triaging) and (failure := prepared.database_failure()) is not None:
        log.warning(
            "a validation process could not read the list (%s); lines up to %d are checked "
            "in the importing process instead",
            type(getattr(failure, "orig", None) or failure).__name__,
            prepared.last_line,
        )
        prepared = importer.prepare(prepared.parsed())
    try:
        return importer.finish(prepared, write)
    except IntegrityError:
        if importer.one_transaction:  # a rollback would take the chunks before with it
            raise
        importer.session.rollback()
        importer.list_was_empty = False
        return importer.finish(importer.prepare(prepared.parsed()), write)
