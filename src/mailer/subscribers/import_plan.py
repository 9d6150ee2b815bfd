"""The writes of one chunk of an import, gathered first, then executed as a few executemany.

:class:`Existing` is a stored subscriber as the import reads it (attributes kept as their JSON
text, decoded only when a row may change them); :class:`Plan` holds what the chunk's rows
bring: new subscribers with their tags and history, changed names and attributes (never the
status), status moves through :func:`mailer.subscribers.status.move_many`, tags added. The
rules of what a row may change are the import's (mailer.subscribers.csv_import).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii as _encode
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from mailer.store.models import StatusChange, Subscriber, SubscriberTag, utcnow
from mailer.subscribers.bulk import bulk_insert, inserted_ids
from mailer.subscribers.csv_source import Row
from mailer.subscribers.status import By, Move, check_new, may_move, move_many

subscribers_table: Table = Subscriber.__table__  # type: ignore[assignment]
tags_table: Table = SubscriberTag.__table__  # type: ignore[assignment]
history_table: Table = StatusChange.__table__  # type: ignore[assignment]


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


class Plan:
    """The writes of one chunk, gathered first and then executed as a few executemany calls."""

    def __init__(self, source: str, extra_tags: list[str]) -> None:
        self.source = source
        self.extra_tags = extra_tags
        self.now: datetime = utcnow()
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

    def add_update(self, row: Row, existing: Existing) -> bool:
        """Queue the changes the row brings; False if it brings none."""
        if self._brings_nothing(row, existing):  # most rows of a re-import, checked cheaply
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
            self.added_tags.append({"subscriber_id": existing.id, "tag": tag})
        return details_changed or status != existing.status or bool(new_tags)

    def _brings_nothing(self, row: Row, existing: Existing) -> bool:
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
