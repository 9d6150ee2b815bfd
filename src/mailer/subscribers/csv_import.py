"""`mailer subscribers import`: a CSV merged into the list, in committed chunks.

For each chunk of rows: the addresses are validated (email-validator, no DNS), duplicates within
the file rejected, existing subscribers fetched with one IN query on email_key, then new rows
bulk-inserted and changed rows updated in one transaction. A crash loses only the chunk in flight;
importing the file again finishes the job, and a file already imported changes nothing.

Rules: an import never changes an existing person's status, except to record an unsubscribe,
bounce or complaint the file itself states (a Status column, or a Mailchimp unsubscribed or
cleaned export, see csv_source); unsubscribed, bounced, complained and deleted (hash in
suppressions) people are left alone and counted as "kept suppressed". A row the file marks
unsubscribed, bounced or complained is counted as "suppressed by this file", never as imported
or updated: it takes an active person off the list (with a history row) or adds someone unknown
as suppressed, never as active. Empty cells never erase what the list knows; tags are only ever
added. Whether a row may move a status is subscribers.status's ``may_move`` (by ``import``), and
the status UPDATEs are its ``move_many``.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import select as io_select
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from json.encoder import encode_basestring_ascii as _encode
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, Text, bindparam, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError
from mailer.store.models import (
    StatusChange,
    Subscriber,
    SubscriberStatus,
    SubscriberTag,
    Suppression,
)
from mailer.store.models import utcnow as _utcnow
from mailer.subscribers.bulk import bulk_insert, inserted_ids, one_of
from mailer.subscribers.csv_export import safe_row
from mailer.subscribers.csv_source import Row, RowError, check_file, read_rows
from mailer.subscribers.dedupe import SeenKeys
from mailer.subscribers.normalize import email_hash, guess_key, validate_batch
from mailer.subscribers.service import clean_tags
from mailer.subscribers.status import By, Move, check_new, may_move, move_many
from mailer.subscribers.typos import TypoWarning, typo_warnings

CHUNK_SIZE = 5_000
IMPORT_CACHE_KIB = 32 * 1024  # SQLite page cache while importing
SAMPLE_REJECTS = 20
# Files with more data lines than this validate addresses in worker processes.
PARALLEL_FROM_LINES = 50_000
# Cyclic GC while importing: a first generation of this many container objects (default 700).
GC_THRESHOLD_0 = 50_000

subscribers_table: Table = Subscriber.__table__  # type: ignore[assignment]
tags_table: Table = SubscriberTag.__table__  # type: ignore[assignment]
history_table: Table = StatusChange.__table__  # type: ignore[assignment]


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


@dataclass(slots=True)
class _Existing:
    id: int
    email: str
    first_name: str
    last_name: str
    status: str
    attributes_text: str  # as stored; decoded only when a row may change it
    tags: set[str] = field(default_factory=set)

    @property
    def attributes(self) -> dict[str, Any]:
        decoded = json.loads(self.attributes_text or "{}")
        return decoded if isinstance(decoded, dict) else {}

    def same_attributes(self, attributes: dict[str, Any]) -> bool:
        """True if merging ``attributes`` changes nothing (the common re-import case is
        answered without decoding: the file's cells serialize to exactly the stored text)."""
        if not attributes or _json_text(attributes) == self.attributes_text:
            return True
        current = self.attributes
        return {**current, **attributes} == current


def _json_text(attributes: dict[str, Any]) -> str:
    """json.dumps(attributes) (how the column was written), about 4x faster for the str -> str
    dicts a CSV row gives. Only ever compared for equality: a text that differs just costs a
    decode and a dict comparison."""
    try:
        items = [_encode(k) + ": " + _encode(v) for k, v in attributes.items()]
    except TypeError:  # a value that is not a str
        return json.dumps(attributes)
    return "{" + ", ".join(items) + "}"


class _RejectsFile:
    """The rejects report, opened on the first reject; the sorted rows of each chunk appended."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stream: IO[str] | None = None
        self._writer: Any = None

    def write(self, rejects: list[RowError]) -> None:
        if self.path is None or not rejects:
            return
        if self._writer is None:
            try:
                self._stream = self.path.open("w", encoding="utf-8-sig", newline="")
            except OSError as err:
                raise InputError(
                    f"cannot write the rejects file {self.path}: {err.strerror}",
                    hint="make its folder writable; the rows before this point were imported "
                    "and running the import again finishes the job",
                ) from err
            self._writer = csv.writer(self._stream, lineterminator="\r\n")
            self._writer.writerow(["line", "reason", "email"])
        for reject in rejects:
            self._writer.writerow(safe_row([str(reject.line), reject.reason, reject.email]))
        assert self._stream is not None
        self._stream.flush()

    def close(self) -> Path | None:
        """The file written, if any; a stale report from an earlier run is removed."""
        if self._stream is not None:
            self._stream.close()
            return self.path
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        return None


def rejects_path_for(path: Path, fallback_dir: Path | None = None) -> Path:
    """<name>.rejects.csv beside the CSV, or in ``fallback_dir`` if that folder is read-only."""
    beside = path.with_name(f"{path.stem}.rejects.csv")
    if fallback_dir is not None and not os.access(path.parent, os.W_OK):
        fallback_dir.mkdir(parents=True, exist_ok=True)
        return fallback_dir / beside.name
    return beside


def _chunks(rows: Iterator[Row | RowError], size: int) -> Iterator[list[Row | RowError]]:
    while chunk := list(islice(rows, size)):
        yield chunk


_Outcome = tuple[str, str] | str


@dataclass
class _Prepared:
    """A chunk read and looked up, its address checks possibly still running in workers."""

    chunk: list[Row | RowError]
    rows: list[Row]
    known: dict[str, _Existing]
    outcomes: list[_Outcome | None]
    pending: list[int]
    futures: list[Future[list[_Outcome]]] | None

    def results(self) -> list[_Outcome]:
        if self.pending:
            if self.futures is None:
                checked = validate_batch([self.rows[i].email for i in self.pending])
            else:
                checked = [outcome for future in self.futures for outcome in future.result()]
            for index, outcome in zip(self.pending, checked, strict=True):
                self.outcomes[index] = outcome
            self.pending = []
        return [outcome for outcome in self.outcomes if outcome is not None]


class _Importer:
    def __init__(
        self,
        session: Session,
        source: str,
        tags: list[str],
        executor: Executor | None,
    ) -> None:
        self.session = session
        self.source = source
        self.extra_tags = tags
        self.executor = executor
        self.seen = SeenKeys()
        self.has_suppressions = True
        # Into an empty list, a key can only meet a row of this same file (a duplicate, caught
        # by self.seen), so there is nothing to look up. Off again if another writer shows up.
        self.list_was_empty = False

    # -- reading the list -------------------------------------------------------------------

    def _existing(self, session: Session, keys: Iterable[str]) -> dict[str, _Existing]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        table = subscribers_table
        found: dict[str, _Existing] = {}
        result = session.execute(
            select(
                table.c.id,
                table.c.email,
                table.c.email_key,
                table.c.first_name,
                table.c.last_name,
                table.c.status,
                cast(table.c.attributes, Text),
            ).where(one_of(session, table.c.email_key, wanted))
        ).all()  # fetchall: row by row iteration costs a driver call per row
        by_id: dict[int, _Existing] = {}
        for sid, email, key, first, last, status, attributes in result:
            item = _Existing(sid, email, first, last, status, attributes or "{}")
            found[key] = by_id[sid] = item
        if by_id:
            for sid, tag in session.execute(
                select(tags_table.c.subscriber_id, tags_table.c.tag).where(
                    one_of(session, tags_table.c.subscriber_id, list(by_id))
                )
            ).all():
                by_id[sid].tags.add(tag)
        return found

    def _suppressed_keys(self, session: Session, keys: list[str]) -> set[str]:
        if not self.has_suppressions or not keys:
            return set()
        hashes = {email_hash(key): key for key in keys}
        rows = session.scalars(
            select(Suppression.email_hash).where(
                one_of(session, Suppression.__table__.c.email_hash, list(hashes))
            )
        )
        return {hashes[digest] for digest in rows}

    # -- one chunk, in two steps so workers check addresses while the last chunk is written ---

    def prepare(self, chunk: list[Row | RowError]) -> _Prepared:
        """Look the chunk's addresses up and start checking those the list does not hold as is.

        An address exactly as the list already stores it was validated when it was stored (and
        normalizing is idempotent), so it is not checked again: re-imports stay fast.
        """
        rows = [item for item in chunk if isinstance(item, Row)]
        keys = [guess_key(row.email) for row in rows]
        known: dict[str, _Existing] = {}
        if not self.list_was_empty:
            known = self._existing(self.session, keys)
        outcomes: list[_Outcome | None] = []
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
        return _Prepared(chunk, rows, known, outcomes, pending, futures)

    def finish(self, prepared: _Prepared, write: bool) -> tuple[list[RowError], dict[str, int]]:
        """Decide each row against the list as it is now, then write the chunk in one commit."""
        rejects = [item for item in prepared.chunk if isinstance(item, RowError)]
        counts = {
            "imported": 0,
            "updated": 0,
            "unchanged": 0,
            "kept_suppressed": 0,
            "suppressed_by_file": 0,
        }
        known = prepared.known
        valid: list[tuple[Row, str, str]] = []
        in_chunk: dict[int, int] = {}  # joins self.seen only once the chunk is done
        for row, outcome in zip(prepared.rows, prepared.results(), strict=True):
            if isinstance(outcome, str):
                rejects.append(RowError(row.line, f"invalid address: {outcome}", row.email))
                continue
            email, key = outcome
            digest = SeenKeys.digest(key)
            earlier = in_chunk.get(digest) or self.seen.get(digest)
            if earlier is not None:
                rejects.append(RowError(row.line, f"duplicate of line {earlier}", row.email))
                continue
            in_chunk[digest] = row.line
            valid.append((row, email, key))
        session = self.session
        # Keys the first look-up could not guess (normalizing changed the address). Keys it
        # did fetch cannot have changed since: the chunks in between held no row with them,
        # or this row would be a duplicate of theirs.
        recheck = [key for _, _, key in valid if key not in known]
        if recheck and not self.list_was_empty:
            known.update(self._existing(session, recheck))
        suppressed = self._suppressed_keys(session, [key for _, _, key in valid])
        plan = _Plan(self.source, self.extra_tags)
        suppressing = SubscriberStatus.SUPPRESSED
        for row, email, key in valid:
            existing = known.get(key)
            if key in suppressed or (
                existing is not None and existing.status in SubscriberStatus.SUPPRESSED
            ):
                counts["kept_suppressed"] += 1
            elif existing is None:
                plan.add_new(row, email, key)
                counts["suppressed_by_file" if row.status in suppressing else "imported"] += 1
            elif plan.add_update(row, existing):
                counts["suppressed_by_file" if row.status in suppressing else "updated"] += 1
            else:
                counts["unchanged"] += 1
        if write:
            plan.execute(session)
            session.commit()
        else:
            session.rollback()
        for digest, line in in_chunk.items():
            self.seen.add(digest, line)
        rejects.sort(key=lambda r: r.line)
        return rejects, counts


class _Plan:
    """The writes of one chunk, gathered first and then executed as a few executemany calls."""

    def __init__(self, source: str, extra_tags: list[str]) -> None:
        self.source = source
        self.extra_tags = extra_tags
        self.now: datetime = _utcnow()
        self.new_rows: list[dict[str, Any]] = []
        self.new_tags: dict[str, list[str]] = {}
        self.new_status: dict[str, str] = {}
        self.updates: list[dict[str, Any]] = []  # names and attributes; never the status
        self.moves: list[Move] = []  # status changes: through subscribers.status
        self.added_tags: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []

    def add_new(self, row: Row, email: str, key: str) -> None:
        check_new(row.status, By.IMPORT)
        self.new_rows.append(
            {
                "email": email,
                "email_key": key,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "status": row.status,
                "attributes": row.attributes,
                "consent_source": row.consent_source or self.source,
                "consent_at": row.consent_at,  # unknown unless the file says
                "consent_ip": row.consent_ip,
                "consent_text": "",
            }
        )
        tags = row.tags + [t for t in self.extra_tags if t not in row.tags]
        if tags:
            self.new_tags[key] = tags
        self.new_status[key] = f"imported from line {row.line}"

    def add_update(self, row: Row, existing: _Existing) -> bool:
        """Queue the changes the row brings; False if it brings none."""
        first = row.first_name or existing.first_name
        last = row.last_name or existing.last_name
        same_attributes = existing.same_attributes(row.attributes)
        status = existing.status
        if may_move(existing.status, row.status, By.IMPORT):  # only to a suppression
            status = row.status
        new_tags = [t for t in (*row.tags, *self.extra_tags) if t not in existing.tags]
        details_changed = (
            first != existing.first_name or last != existing.last_name or not same_attributes
        )
        if details_changed:
            self.updates.append(
                {
                    "b_id": existing.id,
                    "first_name": first,
                    "last_name": last,
                    "attributes": (
                        existing.attributes
                        if same_attributes
                        else {**existing.attributes, **row.attributes}
                    ),
                    "updated_at": self.now,
                }
            )
        if status != existing.status:
            self.moves.append(
                Move(existing.id, existing.status, status, f"marked {status} on line {row.line}")
            )
        for tag in dict.fromkeys(new_tags):
            self.added_tags.append({"subscriber_id": existing.id, "tag": tag})
        return details_changed or status != existing.status or bool(new_tags)

    def _history(self, sid: int, old: str | None, new: str, reason: str) -> dict[str, Any]:
        return {
            "subscriber_id": sid,
            "old_status": old,
            "new_status": new,
            "reason": reason[:200],
            "source": self.source,
        }

    def execute(self, session: Session) -> None:
        if self.new_rows:
            bulk_insert(
                session,
                subscribers_table,
                self.new_rows,
                shared={"created_at": self.now, "updated_at": self.now},
            )
            keys = [row["email_key"] for row in self.new_rows]
            statuses = {row["email_key"]: row["status"] for row in self.new_rows}
            ids = zip(
                inserted_ids(session, subscribers_table, keys, "email_key"), keys, strict=True
            )
            for sid, key in ids:
                self.history.append(self._history(sid, None, statuses[key], self.new_status[key]))
                for tag in self.new_tags.get(key, ()):
                    self.added_tags.append({"subscriber_id": sid, "tag": tag})
        if self.updates:
            session.execute(
                update(subscribers_table)
                .where(subscribers_table.c.id == bindparam("b_id"))
                .values(
                    first_name=bindparam("first_name"),
                    last_name=bindparam("last_name"),
                    attributes=bindparam("attributes"),
                    updated_at=bindparam("updated_at"),
                ),
                self.updates,
            )
        self.history += move_many(
            session, self.moves, by=By.IMPORT, source=self.source, now=self.now
        )
        bulk_insert(session, tags_table, self.added_tags)
        bulk_insert(session, history_table, self.history, shared={"changed_at": self.now})


def _executor_for(lines: int, workers: int | None) -> Executor | None:
    count = workers if workers is not None else (2 if lines > PARALLEL_FROM_LINES else 0)
    if count <= 1:
        return None
    # forkserver: workers never inherit the parent's database connections.
    return ProcessPoolExecutor(
        max_workers=count,
        mp_context=get_context("forkserver"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker as soon as process ``parent`` (the import) ends.

    A killed import (SIGKILL, or SIGTERM, whose default action runs no cleanup) cannot shut its
    pool down, and the workers would wait on their task queue for ever: they hold its write end
    themselves, and the forkserver's liveness pipe too, so the forkserver and the resource
    tracker stay as well. The workers' own parent is the forkserver, not the import, so
    PR_SET_PDEATHSIG would not do; a thread waits on a pidfd of the import instead (polling
    once a second where pidfds do not exist).
    """
    threading.Thread(
        target=_exit_when_gone, args=(parent,), name="exit-with-parent", daemon=True
    ).start()


def _exit_when_gone(parent: int) -> None:
    try:
        handle = os.pidfd_open(parent)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3 or later
        while _alive(parent):
            time.sleep(1)
        os._exit(1)
    io_select.select([handle], [], [])  # readable once the process has ended
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
) -> ImportReport:
    """Import ``path`` into the list and report what happened, row by row.

    Raises InputError (nothing written) for a file that cannot be read as a subscriber CSV.
    ``tags`` go on every imported or updated row. ``dry_run`` writes nothing, not even the
    rejects file. ``rejects_dir`` is where the rejects file goes if the CSV's folder is read-only.
    ``workers`` validation processes (default: 2 for large files). ``on_chunk(report, lines)`` is
    called after each committed chunk with the physical lines read so far (for progress bars).
    """
    extra_tags = clean_tags(tags)
    facts = check_file(path)
    report = ImportReport(path=path, dry_run=dry_run, total_lines=facts.lines)
    rejects_file = _RejectsFile(None if dry_run else rejects_path_for(path, rejects_dir))
    with _few_gc_passes(), path.open("r", encoding="utf-8-sig", newline="") as stream:
        _, records = read_rows(path, stream)
        executor = _executor_for(facts.lines, workers)
        try:
            with sessions() as session:
                _tune(session, large=True)
                try:
                    _run(
                        session,
                        report,
                        rejects_file,
                        records,
                        executor,
                        extra_tags,
                        chunk_size,
                        on_chunk,
                    )
                finally:
                    session.rollback()
                    _tune(session, large=False)
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            report.rejects_path = rejects_file.close()
    return report


@contextmanager
def _few_gc_passes() -> Iterator[None]:
    """Fewer cyclic garbage collections while importing.

    Each chunk makes tens of thousands of short-lived container objects (rows, dicts, result
    tuples), freed by reference counting; with the default thresholds they trigger a collection
    every 700 allocations and frequent full passes over every object of the process (the
    libraries' too), about a third of a re-import's CPU time. Garbage is still collected, less
    often; the thresholds are restored afterwards.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_THRESHOLD_0), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _tune(session: Session, *, large: bool) -> None:
    """On SQLite, a page cache that holds the email_key index while importing.

    The default 2 MB cache makes inserts of random keys into a 1M-row index spill and re-read the
    same pages again and again (several times slower).
    """
    if session.get_bind().dialect.name == "sqlite":
        size = -IMPORT_CACHE_KIB if large else -2_000
        session.connection().exec_driver_sql(f"PRAGMA cache_size={size}")


def _run(
    session: Session,
    report: ImportReport,
    rejects_file: _RejectsFile,
    records: Iterator[Row | RowError],
    executor: Executor | None,
    extra_tags: list[str],
    chunk_size: int,
    on_chunk: Callable[[ImportReport, int], None] | None,
) -> None:
    importer = _Importer(session, f"import:{report.path.name}"[:100], extra_tags, executor)
    importer.has_suppressions = session.scalar(select(Suppression.email_hash).limit(1)) is not None
    importer.list_was_empty = session.scalar(select(Subscriber.id).limit(1)) is None
    chunks = _chunks(records, chunk_size)
    upcoming = next(chunks, None)
    prepared = importer.prepare(upcoming) if upcoming is not None else None
    while prepared is not None:
        # Start the next chunk's checks before writing this one.
        upcoming = next(chunks, None)
        following = importer.prepare(upcoming) if upcoming is not None else None
        chunk_rejects, counts = _finish_with_retry(importer, prepared, not report.dry_run)
        _tally(report, prepared.chunk, chunk_rejects, counts)
        rejects_file.write(chunk_rejects)
        if on_chunk is not None:
            on_chunk(report, prepared.chunk[-1].line)
        prepared = following


def _tally(
    report: ImportReport,
    chunk: list[Row | RowError],
    rejects: list[RowError],
    counts: dict[str, int],
) -> None:
    report.rows += len(chunk)
    report.rejected += len(rejects)
    report.imported += counts["imported"]
    report.updated += counts["updated"]
    report.unchanged += counts["unchanged"]
    report.kept_suppressed += counts["kept_suppressed"]
    report.suppressed_by_file += counts["suppressed_by_file"]
    room = SAMPLE_REJECTS - len(report.sample_rejects)
    report.sample_rejects.extend(rejects[: max(room, 0)])
    # Likely domain typos among the rows taken (warned, never rejected): suggest_domain is
    # cached per domain, so this costs well under a microsecond a row.
    rejected = {reject.line for reject in rejects}
    taken = (
        (item.line, item.email)
        for item in chunk
        if isinstance(item, Row) and item.line not in rejected
    )
    report.typo_warnings.extend(typo_warnings(taken))


def _finish_with_retry(
    importer: _Importer, prepared: _Prepared, write: bool
) -> tuple[list[RowError], dict[str, int]]:
    """Another process may add one of the chunk's addresses between our read and our insert:
    the chunk then rolls back whole and is looked up and planned again."""
    try:
        return importer.finish(prepared, write)
    except IntegrityError:
        importer.session.rollback()
        importer.list_was_empty = False
        return importer.finish(importer.prepare(prepared.chunk), write)
