"""Reading what the list holds for a chunk of an import's keys.

``existing_by_key`` is the chunk's look-up: one query on email_key, one for the tags;
``suppressed_keys`` those of the keys whose hash a deleted person left in the suppressions.
(A thread that ran the look-up two chunks ahead was measured and removed: its Python half shares
the interpreter lock with the importing thread, and a 300,000-row re-import was 10 % slower with
it. Validation processes run it for a large re-import instead: import_triage.)
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Text, cast, select
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
