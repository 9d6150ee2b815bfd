"""Sign-in throttle: after 5 failed sign-ins for one address in 15 minutes, further attempts
for that address wait, whether or not the password is right.

The count is per address as typed (folded to lower case, known or not, so the answer does not
tell which addresses have accounts) and kept in the database, so it holds across restarts and
across several `mailer serve` processes. Only a hash of the address is stored. Attempts made
while waiting are refused without checking the password and are not counted (a lock-out that
grows with every try would let anyone keep a person out for good); a successful sign-in
clears the count. Two attempts at the very same moment may both be checked before either is
counted: the limit can be passed by the number of requests in flight, not more.

Callers commit; clocks are passed in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailer.store.staff_models import StaffLoginFailure

LIMIT = 5
WINDOW = timedelta(minutes=15)


def address_hash(raw_email: str) -> str:
    return hashlib.sha256(" ".join(raw_email.split()).casefold().encode("utf-8")).hexdigest()


def wait_for(session: Session, raw_email: str, *, now: datetime) -> timedelta | None:
    """How long this address must wait before its next attempt; None when it may try now."""
    recent = list(
        session.scalars(
            select(StaffLoginFailure.failed_at)
            .where(
                StaffLoginFailure.address_hash == address_hash(raw_email),
                StaffLoginFailure.failed_at > now - WINDOW,
            )
            .order_by(StaffLoginFailure.failed_at)
        )
    )
    if len(recent) < LIMIT:
        return None
    # Allowed again once fewer than LIMIT failures remain inside the window.
    return recent[len(recent) - LIMIT] + WINDOW - now


def record_failure(session: Session, raw_email: str, *, now: datetime) -> None:
    """Count one failed attempt (and forget this address's failures older than the window)."""
    digest = address_hash(raw_email)
    session.execute(
        delete(StaffLoginFailure).where(
            StaffLoginFailure.address_hash == digest, StaffLoginFailure.failed_at <= now - WINDOW
        )
    )
    session.add(StaffLoginFailure(address_hash=digest, failed_at=now))


def clear(session: Session, raw_email: str) -> None:
    """A successful sign-in: the address starts afresh."""
    session.execute(
        delete(StaffLoginFailure).where(StaffLoginFailure.address_hash == address_hash(raw_email))
    )
