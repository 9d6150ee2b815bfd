"""Signing in: the throttle, the password, a new session, in that order.

The answer is one of three: signed in (with the new session's secret for the cookie), "no
match" (the same for an unknown address, an account whose password is not set yet and a wrong
password, and in the same time: an empty hash is checked against a stand-in), or "wait" while
the address is throttled (mailer.staff.throttle), which is answered before the password is
looked at, so even the right one waits.

The password check (Argon2id, about 0.25 s) runs between two short transactions, not inside
one: on SQLite a transaction held that long would make every other writer wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from mailer.staff import accounts, sessions, throttle
from mailer.staff.passwords import hash_password, needs_rehash, verify
from mailer.store.db import transaction
from mailer.store.staff_models import StaffAccount


class Outcome(StrEnum):
    SIGNED_IN = "signed-in"
    NO_MATCH = "no-match"
    WAIT = "wait"


@dataclass(frozen=True)
class SignIn:
    outcome: Outcome
    secret: str = ""  # SIGNED_IN: the session's secret, for the cookie only
    session: sessions.LiveSession | None = None
    wait: timedelta | None = None  # WAIT: how long until the next attempt is checked


def sign_in(
    factory: sessionmaker[Session],
    raw_email: str,
    password: str,
    *,
    now: datetime,
    idle: timedelta,
) -> SignIn:
    with transaction(factory) as db:
        wait = throttle.wait_for(db, raw_email, now=now)
        if wait is not None:
            return SignIn(Outcome.WAIT, wait=wait)
        account = accounts.find(db, raw_email)
        account_id = account.id if account else None
        stored = account.password_hash if account else ""
    matched = verify(stored, password)
    with transaction(factory) as db:
        current = db.get(StaffAccount, account_id) if account_id is not None else None
        # Removed, or given another password, while the hash was being checked: no match.
        if not matched or current is None or current.password_hash != stored:
            throttle.record_failure(db, raw_email, now=now)
            return SignIn(Outcome.NO_MATCH)
        if needs_rehash(stored):  # made with older parameters: upgrade while we know it
            current.password_hash = hash_password(password)
        throttle.clear(db, raw_email)
        secret, live = sessions.create(db, current, now=now, idle=idle)
    return SignIn(Outcome.SIGNED_IN, secret=secret, session=live)
