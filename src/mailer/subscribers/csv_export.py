"""`mailer subscribers export`: every subscriber as one CSV row, safe to open in a spreadsheet.

The staff pages' export (``iter_csv``) is the same rows for the people matching a filter,
streamed as they are read.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError
from mailer.store.models import Subscriber, SubscriberTag

# A cell a spreadsheet would read as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

FIXED_COLUMNS = [
    "Email",
    "First Name",
    "Last Name",
    "Status",
    "Tags",
    "Consent Source",
    "Consent At",
    "Consent IP",
    "Created At",
]


def neutralize(cell: str) -> str:
    """Prefix a formula-looking cell with a quote so spreadsheets show it as text."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def safe_row(cells: list[str]) -> list[str]:
    return [neutralize(cell) for cell in cells]


def _attribute_names(session: Session, where: ColumnElement[bool] | None = None) -> list[str]:
    names: set[str] = set()
    query = select(Subscriber.attributes)
    if where is not None:
        query = query.where(where)
    for attributes in session.scalars(query).yield_per(5_000):
        names.update(attributes or {})
    return sorted(names, key=str.lower)


def _rows(session: Session, where: ColumnElement[bool] | None = None) -> Iterator[list[str]]:
    """The header, then one formula-safe row per subscriber (matching ``where``), by id."""
    attribute_names = _attribute_names(session, where)
    yield safe_row(FIXED_COLUMNS + attribute_names)
    after = 0
    while True:
        query = select(Subscriber).where(Subscriber.id > after)
        if where is not None:
            query = query.where(where)
        batch = session.scalars(query.order_by(Subscriber.id).limit(2_000)).all()
        if not batch:
            return
        tags: dict[int, list[str]] = {}
        for subscriber_id, tag in session.execute(
            select(SubscriberTag.subscriber_id, SubscriberTag.tag)
            .where(SubscriberTag.subscriber_id.in_([s.id for s in batch]))
            .order_by(SubscriberTag.subscriber_id, SubscriberTag.tag)
        ):
            tags.setdefault(subscriber_id, []).append(tag)
        for subscriber in batch:
            attributes = subscriber.attributes or {}
            row = [
                subscriber.email,
                subscriber.first_name,
                subscriber.last_name,
                subscriber.status,
                ";".join(tags.get(subscriber.id, [])),
                subscriber.consent_source,
                subscriber.consent_at.isoformat() if subscriber.consent_at else "",
                subscriber.consent_ip,
                subscriber.created_at.isoformat(),
            ] + [str(attributes.get(name, "")) for name in attribute_names]
            yield safe_row(row)
        after = batch[-1].id
        session.expunge_all()


def _write(session: Session, out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\r\n")
    count = -1  # the header is not a subscriber
    for row in _rows(session):
        writer.writerow(row)
        count += 1
    return count


class _Line:
    """A file-like target for csv.writer that hands back what was written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)


def iter_csv(
    sessions: sessionmaker[Session], where: ColumnElement[bool] | None = None
) -> Iterator[str]:
    """The export as text pieces (a BOM first, for spreadsheets), for a download streamed as it
    is read: the subscribers matching ``where`` (all when None), the same columns and
    formula-safe cells as `mailer subscribers export`. The database session closes when the
    iterator is closed (the download finished or was cancelled)."""
    yield "\ufeff"
    line = _Line()
    writer = csv.writer(line, lineterminator="\r\n")
    with sessions() as session:
        for n, row in enumerate(_rows(session, where)):
            writer.writerow(row)
            if n % 500 == 0:
                yield line.text
                line.text = ""
    yield line.text


def export_csv(sessions: sessionmaker[Session], path: Path) -> int:
    """Write all subscribers to ``path`` (UTF-8 with BOM, for spreadsheets); returns the count.

    Written to a temporary file first, so a failure never leaves half a list behind.
    """
    target = path.expanduser()
    if target.is_dir():
        raise InputError(f"{target} is a folder", hint="give a file name, e.g. subscribers.csv")
    if not target.parent.is_dir():
        raise InputError(
            f"cannot write {target}: folder {target.parent} does not exist",
            hint="create the folder first or pick another path",
        )
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".csv", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out, sessions() as session:
            count = _write(session, out)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count
