"""Reading what the list holds for a chunk of an import's keys.

``existing_by_key`` is the chunk's look-up: one query on email_key, one for the tags;
``suppressed_keys`` those of the keys whose hash a deleted person left in the suppressions;
``stored_as_text`` each person's fields and tags as text, for comparing whole rows at once.
(A thread that ran the look-up two chunks ahead was measured and removed: its Python half shares
the interpreter lock with the importing thread, and a 300,000-row re-import was 10 % slower with
it. Validation processes run it for a large re-import instead: import_triage.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from mailer.store.models import Suppression
from mailer.subscribers.bulk import one_of
from mailer.subscribers.import_plan import Existing, subscribers_table, tags_table
from mailer.subscribers.normalize import email_hash


def existing_by_key(session: Session, keys: Iterable[str]) -> dict[str, Existing]:
    """The stored subscribers among ``keys`` (email keys), with their tags, by key."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    table = subscribers_table
    found: dict[str, Existing] = {}
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
    by_id: dict[int, Existing] = {}
    for sid, email, key, first, last, status, attributes in result:
        item = Existing(sid, email, first, last, status, attributes or "{}")
        found[key] = by_id[sid] = item
    if by_id:
        for sid, tag in session.execute(
            select(tags_table.c.subscriber_id, tags_table.c.tag).where(
                one_of(session, tags_table.c.subscriber_id, list(by_id))
            )
        ).all():
            by_id[sid].tags.add(tag)
    return found


def suppressed_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` whose hash is in the suppressions (a deleted person's address)."""
    hashes = {email_hash(key): key for key in keys}
    if not hashes:
        return set()
    rows = session.scalars(
        select(Suppression.email_hash).where(
            one_of(session, Suppression.__table__.c.email_hash, list(hashes))
        )
    )
    return {hashes[digest] for digest in rows}


# A stored person as stored_as_text gives them: email, first name, last name, status, attributes
# (the column's text) and tags (sorted by code point, one per line: TAG_SEPARATOR).
StoredText = tuple[str, str, str, str, str, str]
# Between two tags of a StoredText: a line break, which no tag holds (normalize_tag turns every
# run of white space into one space). A comma would not do: `--tag "patients,vip"` stores
# that one tag, whose text would equal the two tags patients and vip of a row.
TAG_SEPARATOR = "\n"


def stored_as_text(session: Session, keys: Iterable[str]) -> dict[str, StoredText]:
    """The stored subscribers among ``keys`` as :data:`StoredText`, by key: one query, the
    tags gathered by the database (no Existing objects, no tag query of its own)."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    table, tags = subscribers_table, tags_table
    if session.get_bind().dialect.name == "postgresql":
        ordered: Any = aggregate_order_by(literal(TAG_SEPARATOR), tags.c.tag.collate("C"))
        joined = func.string_agg(tags.c.tag, ordered)
    else:
        # SQLite reads a person's tags along the primary key (subscriber_id, tag), in tag
        # order. (Its group_concat takes no ORDER BY before 3.44.) Were the order ever another,
        # the texts would differ and the row be compared field by field: slower, never wrong.
        joined = func.group_concat(tags.c.tag, TAG_SEPARATOR)
    tag_text = select(joined).where(tags.c.subscriber_id == table.c.id).scalar_subquery()
    rows = session.execute(
        select(
            table.c.email_key,
            table.c.email,
            table.c.first_name,
            table.c.last_name,
            table.c.status,
            cast(table.c.attributes, Text),
            func.coalesce(tag_text, ""),
        ).where(one_of(session, table.c.email_key, wanted))
    ).all()
    return {
        key: (email, first, last, status, attrs, tag)
        for key, email, first, last, status, attrs, tag in rows
    }
