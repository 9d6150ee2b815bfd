"""A large re-import's rows sorted out in the validation processes.

Importing a file again (the list's own export, the clinic's monthly patient list) is mostly rows
whose address is stored exactly as written and that change nothing. In one process the importer
parsed, looked up and compared every such row itself while its validation processes sat idle:
9.5 s of CPU for 300,000 unchanged rows, one core of two (2026-12-02). For a file over
PARALLEL_FROM_LINES lines into a list that is not empty, the importing process now only reads
the CSV's records and hands each chunk's cells to a validation process, which (:func:`triage`):

- parses each record (csv_source.parse_row),
- looks the chunk's addresses up in its own session (import_lookup),
- settles each row whose address is stored exactly as written and whose person is suppressed
  ("kept suppressed") or that changes nothing (Plan.brings_nothing, "unchanged"),
- checks the other rows' addresses (email-validator), and every row's domain for a typo,

and sends the settled rows back as their line, address and key only, the others whole. The
importing process keeps what must be decided in file order or in its own transaction:
duplicates within the file, and the rows that change something, looked up again there and
written as before.

Invariant: the report and the list after it are the same as the one-process import's
(tests/subscribers/test_import_triage.py, on both databases). A row is settled on a read that
may be a moment older than the importing process's own; so is the one-process import's (it
looks a chunk up before it writes the one before), and a settled row writes nothing either way.
A validation process that cannot read the list (its own connection refused, say) fails only
its chunk, which the importing process then does itself, with a warning in the log.
Rows travel between the processes as tuples: pickling the Row dataclass cost 8.5 µs a row each
way, a tuple of its fields under 1 µs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.store.db import make_engine
from mailer.subscribers.csv_source import Columns, Record, Row, RowError, parse_row
from mailer.subscribers.import_lookup import (
    TAG_SEPARATOR,
    StoredText,
    existing_by_key,
    stored_as_text,
    suppressed_keys,
)
from mailer.subscribers.import_plan import Plan, json_text, kept_suppressed
from mailer.subscribers.import_tuning import few_gc_passes, tune
from mailer.subscribers.import_workers import usable_cpus
from mailer.subscribers.normalize import validate_batch
from mailer.subscribers.typos import TypoWarning, typo_warnings

UNCHANGED = "unchanged"
KEPT_SUPPRESSED = "kept_suppressed"

# An address's check: (email, key) or why it is invalid.
Outcome = tuple[str, str] | str
# One row, in file order: its line, its address as written, the check, how it was settled
# (UNCHANGED, KEPT_SUPPRESSED, or "" for the importing process to decide) and, unless settled,
# the Row's fields (row_fields).
Entry = tuple[int, str, Outcome, str, tuple[Any, ...] | None]


@dataclass(frozen=True)
class TriageContext:
    """What a validation process needs to sort a chunk: sent with each one (a few hundred bytes)."""

    url: str  # the database's URL, password included: it travels over the pool's pipe only
    columns: Columns
    extra_tags: tuple[str, ...]
    has_suppressions: bool


@dataclass(frozen=True)
class Triaged:
    rejects: list[tuple[int, str, str]]  # records parse_row refused: line, reason, address
    entries: list[Entry]
    typo_warnings: list[TypoWarning]  # of every row parsed: the importer drops rejected lines


def triage_context(
    session: Session, columns: Columns, extra_tags: list[str], has_suppressions: bool
) -> TriageContext | None:
    """What the validation processes need to sort a re-import's chunks (the caller has them,
    and a list with people on it), or None where they should not: a database they cannot open
    (SQLite in memory), or a single CPU. Sorting elsewhere costs more CPU in all (a 1,000,000-row
    re-import: 29 s against 21 s), which only a second CPU turns into less time: pinned to one
    CPU (taskset), 300,000 rows re-imported in 8.1-8.9 s sorted in the validation processes,
    5.9-6.5 s in the importing process."""
    if usable_cpus() < 2:
        return None
    url = session.connection().engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return TriageContext(
        url.render_as_string(hide_password=False), columns, tuple(extra_tags), has_suppressions
    )


def row_fields(row: Row) -> tuple[Any, ...]:
    return (
        row.line,
        row.email,
        row.first_name,
        row.last_name,
        row.tags,
        row.attributes,
        row.status,
        row.consent_at,
        row.consent_ip,
        row.consent_source,
    )


def _as_text(row: Row, tags: set[str]) -> StoredText:
    """The row as stored_as_text gives a person: equal only if the row changes nothing (its
    names and status as stored, its attributes the stored text, its tags all there and no
    other), so such a row is settled without building Existing (a third of a chunk's time)."""
    return (
        row.email,
        row.first_name,
        row.last_name,
        row.status,
        json_text(row.attributes),
        TAG_SEPARATOR.join(sorted(tags)),
    )


@cache
def _engine(url: str) -> Engine:
    """One engine per process and URL: its connection (and SQLite's page cache) serves every
    chunk the process sorts."""
    return make_engine(url)


def triage(context: TriageContext, records: list[Record]) -> Triaged:
    """Parse, look up and settle one chunk's records (runs in a validation process).

    With the importing process's few cyclic collections (import_tuning.few_gc_passes): with the
    default thresholds a chunk of 5,000 records took 0.10-0.43 s, with them 0.06-0.11 s.
    """
    with few_gc_passes():
        return _triage(context, records)


def _triage(context: TriageContext, records: list[Record]) -> Triaged:
    rows: list[Row] = []
    rejects: list[tuple[int, str, str]] = []
    for line, cells in records:
        item = parse_row(context.columns, line, cells)
        if isinstance(item, RowError):
            rejects.append((item.line, item.reason, item.email))
        else:
            rows.append(item)
    keys = [row.email.strip().lower() for row in rows]  # as the importer guesses them
    extra = set(context.extra_tags)
    with Session(_engine(context.url)) as session:
        tune(session, large=True)
        # First the cheap test: the row, as text, is the stored person with the tags added.
        stored = stored_as_text(session, keys)
        same = {
            key
            for row, key in zip(rows, keys, strict=True)
            if (text := stored.get(key)) is not None
            and text == _as_text(row, extra.union(row.tags) if extra else set(row.tags))
        }
        # The rows that differ somewhere, field by field, as the importing process would.
        known = existing_by_key(session, [key for key in keys if key in stored and key not in same])
        suppressed: set[str] = set()
        if context.has_suppressions:
            suppressed = suppressed_keys(session, [*same, *known])
        session.rollback()
    plan = Plan("", list(context.extra_tags))
    entries: list[list[Any]] = []
    pending: list[int] = []
    for row, key in zip(rows, keys, strict=True):
        if key in same:
            status = stored[key][3]
            settled = KEPT_SUPPRESSED if kept_suppressed(status, key in suppressed) else UNCHANGED
            entries.append([row.line, row.email, (row.email, key), settled, None])
            continue
        existing = known.get(key)
        if existing is None or existing.email != row.email:
            pending.append(len(entries))  # the importing process decides, once it is checked
            entries.append([row.line, row.email, None, "", row_fields(row)])
        elif kept_suppressed(existing.status, key in suppressed):
            entries.append([row.line, row.email, (row.email, key), KEPT_SUPPRESSED, None])
        elif plan.brings_nothing(row, existing):
            entries.append([row.line, row.email, (row.email, key), UNCHANGED, None])
        else:  # stored as is, so valid as is: its key cannot change
            entries.append([row.line, row.email, (row.email, key), "", row_fields(row)])
    checked = validate_batch([entries[index][1] for index in pending])
    for index, outcome in zip(pending, checked, strict=True):
        entries[index][2] = outcome
    warnings = typo_warnings((row.line, row.email) for row in rows)
    return Triaged(rejects, [tuple(entry) for entry in entries], warnings)
