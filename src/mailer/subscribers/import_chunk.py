"""One chunk of an import between reading and writing: looked up here or sorted elsewhere.

:class:`LookedUp` is a chunk parsed and looked up in the importing process, its addresses perhaps
still being checked in the validation processes; :class:`Triaging` one handed whole to a
validation process (import_triage). Both give csv_import's ``finish`` the same things: the
rejects found while reading, each row's :data:`Entry` in file order, the typo warnings, and
the chunk parsed again in this process if it must be redone after a conflict.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from mailer.subscribers.csv_source import Columns, Record, Row, RowError, parse_row
from mailer.subscribers.import_plan import Existing
from mailer.subscribers.import_triage import Outcome, Triaged
from mailer.subscribers.normalize import validate_batch
from mailer.subscribers.typos import TypoWarning, typo_warnings

# One row as finish() takes it: see import_triage.Entry (the Row itself in place of its fields).
Entry = tuple[int, str, Outcome, str, Row | None]


@dataclass
class LookedUp:
    """A chunk read and looked up, its address checks possibly still running in workers."""

    chunk: list[Row | RowError]
    rows: list[Row]
    known: dict[str, Existing]
    outcomes: list[Outcome | None]
    pending: list[int]
    futures: list[Future[list[Outcome]]] | None

    @property
    def records(self) -> int:
        return len(self.chunk)

    @property
    def last_line(self) -> int:
        return self.chunk[-1].line

    def parse_rejects(self) -> list[RowError]:
        return [item for item in self.chunk if isinstance(item, RowError)]

    def entries(self) -> list[Entry]:
        if self.pending:
            if self.futures is None:
                checked = validate_batch([self.rows[i].email for i in self.pending])
            else:
                checked = [outcome for future in self.futures for outcome in future.result()]
            for index, outcome in zip(self.pending, checked, strict=True):
                self.outcomes[index] = outcome
            self.pending = []
        return [
            (row.line, row.email, outcome, "", row)
            for row, outcome in zip(self.rows, self.outcomes, strict=True)
            if outcome is not None
        ]

    def parsed(self) -> list[Row | RowError]:
        return self.chunk

    def typo_warnings(self, rejected: set[int]) -> list[TypoWarning]:
        return typo_warnings((row.line, row.email) for row in self.rows if row.line not in rejected)


@dataclass
class Triaging:
    """A chunk of records sorted in a validation process (import_triage)."""

    chunk: list[Record | RowError]
    columns: Columns
    future: Future[Triaged]
    known: dict[str, Existing] = field(default_factory=dict)  # rows it leaves are looked up again

    @property
    def records(self) -> int:
        return len(self.chunk)

    @property
    def last_line(self) -> int:
        last = self.chunk[-1]
        return last.line if isinstance(last, RowError) else last[0]

    def parse_rejects(self) -> list[RowError]:
        swallowed = [item for item in self.chunk if isinstance(item, RowError)]
        refused = [RowError(*reject) for reject in self.future.result().rejects]
        return swallowed + refused

    def entries(self) -> list[Entry]:
        return [
            (line, email, outcome, settled, None if fields is None else Row(*fields))
            for line, email, outcome, settled, fields in self.future.result().entries
        ]

    def typo_warnings(self, rejected: set[int]) -> list[TypoWarning]:
        return [w for w in self.future.result().typo_warnings if w.line not in rejected]

    def database_failure(self) -> SQLAlchemyError | None:
        """What kept the validation process from its database (waits for the chunk): its own
        connection refused (the server's connection limit), or its read failed."""
        failure = self.future.exception()
        return failure if isinstance(failure, SQLAlchemyError) else None

    def parsed(self) -> list[Row | RowError]:
        """The chunk parsed here, to be prepared again in this process (after a conflict)."""
        return [
            item if isinstance(item, RowError) else parse_row(self.columns, *item)
            for item in self.chunk
        ]


@dataclass
class Finished:
    rejects: list[RowError]
    counts: dict[str, int]
    # Likely domain typos among the rows taken (warned, never rejected): suggest_domain is
    # cached per domain, so this costs well under a microsecond a row.
    typo_warnings: list[TypoWarning]
