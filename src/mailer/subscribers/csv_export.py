"""`mailer subscribers export`: every subscriber as one CSV row, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import IO

from sqlalchemy import select
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


def _attribute_names(session: Session) -> list[str]:
    names: set[str] = set()
    for attributes in session.scalars(select(Subscriber.attributes)).yield_per(5_000):
        names.update(attributes or {})
    return sorted(names, key=str.lower)


def _write(session: Session, out: IO[str]) -> int:
    attribute_names = _attribute_names(session)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(safe_row(FIXED_COLUMNS + attribute_names))
    count = 0
    after = 0
    while True:
        batch = session.scalars(
            select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id).limit(2_000)
        ).all()
        if not batch:
            return count
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
            writer.writerow(safe_row(row))
            count += 1
        after = batch[-1].id
        session.expunge_all()


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
