"""The writes of one chunk of an import, gathered first, then executed as a few executemany.

:class:`Existing` is a stored subscriber as the import reads it (attributes kept as their JSON
text, decoded only when a row may change them); :class:`Plan` holds what the chunk's rows
bring: new subscribers with their tags and history, changed names and attributes (never the
status), status moves through :func:`mailer.subscribers.status.move_many`, tags added. The
rules of what a row may change are the import's (mailer.subscribers.csv_import).

New subscribers, tags and history rows are gathered as tuples in the column order of
NEW_COLUMNS, TAG_COLUMNS and HISTORY_COLUMNS and written with bulk.insert_tuples: building a dict
per row and reading it back was 3.3 s of a 100,000-row import's 12.6 s (cProfile, issue 17).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii as _encode
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from mailer.states import SubscriberStatus
from mailer.store.models import StatusChange, Subscriber, SubscriberTag, utcnow
from mailer.subscribers.bulk import insert_tuples, inserted_ids
from mailer.subscribers.csv_source import Row
from mailer.subscribers.status import By, Move, check_new, may_move, move_many

subscribers_table: Table = Subscriber.__table__  # type: ignore[assignment]
tags_table: Table = SubscriberTag.__table__  # type: ignore[assignment]
history_table: Table = StatusChange.__table__  # type: ignore[assignment]

NEW_COLUMNS = (
    "email",
    "email_key",
    "first_name",
    "last_name",
    "status",
    "attributes",
    "consent_source",
    "consent_at",
    "consent_ip",
    "consent_text",
)
_KEY, _STATUS = NEW_COLUMNS.index("email_key"), NEW_COLUMNS.index("status")
TAG_COLUMNS = ("subscriber_id", "tag")
HISTORY_COLUMNS = ("subscriber_id", "old_status", "new_status", "reason", "source")


@dataclass(slots=True)
class Existing:
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
        if not attributes or json_text(attributes) == self.attributes_text:
            return True
        current = self.attributes
        return {**current, **attributes} == current


def kept_suppressed(status: str | None, hash_suppressed: bool) -> bool:
    """The import's first rule, before any other: a person unsubscribed, bounced or complained
    (``status``; None for no one on the list) or erased (``hash_suppressed``: their address's
    hash is in the suppressions) is left as they are and counted "kept suppressed", whatever
    the row says. The importing process and the validation processes (import_triage) both ask
    here."""
    return hash_suppressed or status in SubscriberStatus.SUPPRESSED


def json_text(attributes: dict[str, Any]) -> str:
    """json.dumps(attributes) (how the column was written), about 4x faster for the str -> str
    dicts a CSV row gives. Only ever compared for equality: a text that differs just costs a
    decode and a dict comparison."""
    try:
        items = [_encode(k) + ": " + _encode(v) for k, v in attributes.items()]
    except TypeError:  # a value that is not a str
        return json.dumps(attributes)
    return "{" + ", ".join(items) + "}"


class Plan:
    """The writes of one chunk, gathered first and then executed as a few executemany calls."""

    def __init__(self, source: str, extra_tags: list[str]) -> None:
        self.source = source
        self.extra_tags = extra_tags
        self.now: datetime = utcnow()
        self.new_rows: list[tuple[Any, ...]] = []  # NEW_COLUMNS
        self.new_tags: list[list[str]] = []  # per new row
        self.new_lines: list[int] = []  # per new row, for its history
        self.updates: list[dict[str, Any]] = []  # names and attributes; never the status
        self.moves: list[Move] = []  # status changes: through subscribers.status
        self.added_tags: list[tuple[int, str]] = []  # TAG_COLUMNS
        self.history: list[tuple[Any, ...]] = []  # HISTORY_COLUMNS
        self.allowed_new: set[str] = set()  # statuses check_new allowed (a pure function)

    def add_new(self, row: Row, email: str, key: str) -> None:
        if row.status not in self.allowed_new:  # 6% of a first import when called per row
            check_new(row.status, By.IMPORT)
            self.allowed_new.add(row.status)
        self.new_rows.append(
            (
                email,
                key,
                row.first_name,
                row.last_name,
                row.status,
                row.attributes,
                row.consent_source or self.source,
                row.consent_at,  # unknown unless the file says
                row.consent_ip,
                "",
            )
        )
        extra = [t for t in self.extra_tags if t not in row.tags] if self.extra_tags else []
        self.new_tags.append(row.tags + extra if extra else row.tags)
        self.new_lines.append(row.line)

    def add_update(self, row: Row, existing: Existing) -> bool:
        """Queue the changes the row brings; False if it brings none."""
        if self.brings_nothing(row, existing):  # most rows of a re-import, checked cheaply
            return False
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
            self.added_tags.append((existing.id, tag))
        return details_changed or status != existing.status or bool(new_tags)

    def brings_nothing(self, row: Row, existing: Existing) -> bool:
        """True if ``row`` changes nothing of ``existing``: the same answer as add_update's,
        without building its lists (add_update was 40% of deciding a re-import's chunk)."""
        tags = existing.tags
        return (
            (not row.first_name or row.first_name == existing.first_name)
            and (not row.last_name or row.last_name == existing.last_name)
            and tags.issuperset(row.tags)
            and tags.issuperset(self.extra_tags)
            and (
                row.status == existing.status
                or not may_move(existing.status, row.status, By.IMPORT)
            )
            and (not row.attributes or existing.same_attributes(row.attributes))
        )

    def execute(self, session: Session) -> None:
        if self.new_rows:
            insert_tuples(
                session,
                subscribers_table,
                NEW_COLUMNS,
                self.new_rows,
                shared={"created_at": self.now, "updated_at": self.now},
                sqlite_text={"attributes": json_text},
            )
            keys = [row[_KEY] for row in self.new_rows]
            ids = inserted_ids(session, subscribers_table, keys, "email_key")
            source, history, added_tags = self.source, self.history, self.added_tags
            for sid, row, tags, line in zip(
                ids, self.new_rows, self.new_tags, self.new_lines, strict=True
            ):
                history.append((sid, None, row[_STATUS], f"imported from line {line}", source))
                for tag in tags:
                    added_tags.append((sid, tag))
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
        moved = move_many(session, self.moves, by=By.IMPORT, source=self.source, now=self.now)
        self.history += [tuple(item[name] for name in HISTORY_COLUMNS) for item in moved]
        insert_tuples(session, tags_table, TAG_COLUMNS, self.added_tags)
        insert_tuples(
            session, history_table, HISTORY_COLUMNS, self.history, shared={"changed_at": self.now}
        )
