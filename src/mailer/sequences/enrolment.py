"""Who is in which series, since when: one ``sequence_enrolments`` row per (person, series).

Invariants:
- a person enters a series once: enrolling again (a resubscribe, a second import with
  ``--welcome``, two signups confirmed at once) changes nothing, so the series never restarts;
- only active people are enrolled; the people already on the list when a series starts are
  enrolled only by ``enrol_existing`` (`mailer sequences enroll NAME --existing`), never by a
  plain import, so last year's patients are not all "welcomed" today.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, literal, select
from sqlalchemy.orm import Session

from mailer.store.db import insert_ignoring_duplicates
from mailer.store.models import SequenceEnrolment, Subscriber
from mailer.subscribers.segments import Audience, audience_query

ENROLMENTS = cast(Table, SequenceEnrolment.__table__)
WELCOME = "welcome"  # the series people enter when they join the list


def enrol(
    session: Session, subscriber_id: int, when: datetime, *, series: str = WELCOME, source: str
) -> bool:
    """Put one person in ``series`` from ``when`` on. True if they were not in it before."""
    statement = insert_ignoring_duplicates(
        session,
        ENROLMENTS,
        "subscriber_id",
        "sequence",
    ).values(subscriber_id=subscriber_id, sequence=series, joined_at=when, source=source[:50])
    result = session.execute(statement.returning(SequenceEnrolment.subscriber_id))
    return result.first() is not None


def enrol_existing(session: Session, series: str, when: datetime, *, tag: str | None = None) -> int:
    """Every active person (with ``tag``, if given) not yet in ``series``, from ``when`` on:
    one INSERT ... SELECT. Returns how many were enrolled."""
    people = audience_query(Audience(any_of=[tag] if tag else [])).with_only_columns(
        Subscriber.id,
        literal(series),
        literal(when, type_=ENROLMENTS.c.joined_at.type),
        literal("existing"),
    )
    before = enrolled_count(session, series)
    statement = insert_ignoring_duplicates(
        session,
        ENROLMENTS,
        "subscriber_id",
        "sequence",
    ).from_select(["subscriber_id", "sequence", "joined_at", "source"], people.order_by(None))
    session.execute(statement)
    return enrolled_count(session, series) - before


def enrolled_count(session: Session, series: str) -> int:
    """People in ``series`` who have not left it."""
    query = select(func.count()).where(
        SequenceEnrolment.sequence == series, SequenceEnrolment.left_at.is_(None)
    )
    return int(session.scalar(query) or 0)
