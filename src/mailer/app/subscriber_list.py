"""The subscriber list as staff change it by hand (`mailer subscribers ...`): one transaction per
use case, so a face hands down the session factory and never holds a session itself.

The rules (the status transition table, suppression by hash) are the domain's
(mailer.subscribers); these functions only bound each change to one transaction and return
plain data for the face to show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailer.sequences import enrolment
from mailer.store.db import transaction
from mailer.store.models import utcnow
from mailer.subscribers.service import (
    add_subscriber,
    delete_subscriber,
    list_query,
    parse_address,
    require_subscriber,
    resubscribe,
    subscriber_record,
    unsubscribe,
)


@dataclass(frozen=True)
class StatusChange:
    """One person's status after a change by staff; ``changed`` False: it was so already."""

    email: str
    status: str
    before: str
    changed: bool


def add(
    sessions: sessionmaker[Session],
    email: str,
    *,
    first_name: str = "",
    last_name: str = "",
    tags: Iterable[str] = (),
) -> StatusChange:
    """Add one person by hand (consent source: manual)."""
    with transaction(sessions) as session:
        person = add_subscriber(
            session, email, first_name=first_name, last_name=last_name, tags=tags
        )
        enrolment.enrol(session, person.id, utcnow(), source="cli-add")
        return StatusChange(person.email, person.status, "", True)


def unsubscribe_by_staff(sessions: sessionmaker[Session], email: str) -> StatusChange:
    with transaction(sessions) as session:
        person, changed = unsubscribe(session, email)
        return StatusChange(person.email, person.status, "", changed)


def resubscribe_by_staff(
    sessions: sessionmaker[Session], email: str, consent: str, *, source: str = "cli"
) -> StatusChange:
    """Active again with the person's request, in their words, recorded as the consent."""
    with transaction(sessions) as session:
        person = require_subscriber(session, email)
        before = person.status
        changed = resubscribe(
            session,
            person,
            consent_source="staff",
            consent_text=consent,
            reason=f"resubscribed by staff: {consent}",
            source=source,
        )
        return StatusChange(person.email, person.status, before, changed)


def erase(sessions: sessionmaker[Session], email: str) -> tuple[str, bool]:
    """Erase the person, keep the hash of the address; (the address, whether they were on the
    list). An address not on the list is suppressed all the same."""
    address = parse_address(email)
    with transaction(sessions) as session:
        existed = delete_subscriber(session, address.email)
    return address.email, existed


def list_subscribers(
    sessions: sessionmaker[Session],
    *,
    status: str | None = None,
    tag: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Subscribers by id as plain records (subscriber_record), optionally filtered."""
    query = list_query(status, tag)
    if limit is not None:
        query = query.limit(limit)
    with sessions() as session:
        return [subscriber_record(person) for person in session.scalars(query)]
