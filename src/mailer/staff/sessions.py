"""Signed-in staff browsers as server-side rows: create, touch (with idle expiry), end.

A session is a random secret (256 bits) that the browser holds in a signed cookie
(mailer.web.staff.auth); the row keeps only the secret's sha256, the account and the session's
CSRF token. So:

- ending a session is deleting its row: sign-out, `mailer staff remove`, `reset` and a new
  password take effect at the browser's next request;
- a session unused for longer than ``idle`` (``[staff] session_idle``, default 8 hours) is not
  accepted, and its row is deleted when next seen (and in bulk whenever a session starts);
- ``touch`` writes ``last_seen_at`` at most once a minute (TOUCH_EVERY), so that a page with
  several requests costs no write each on SQLite's single writer.

Callers commit; clocks are passed in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailer.errors import InputError
from mailer.staff.accounts import Role, address_key, end_sessions
from mailer.store.staff_models import StaffAccount, StaffSession

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class LiveSession:
    """A session that is accepted now, and whose it is."""

    id: str  # the row id: sha256 of the secret, safe to log (it signs nobody in)
    account_id: int
    email: str
    name: str
    role: Role
    csrf_token: str


def session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(
    session: Session, account: StaffAccount, *, now: datetime, idle: timedelta
) -> tuple[str, LiveSession]:
    """A new session for the account: (the secret for the cookie, the session). Rows idle
    past ``idle`` are swept at the same time."""
    session.execute(delete(StaffSession).where(StaffSession.last_seen_at <= now - idle))
    secret = secrets.token_urlsafe(32)
    row = StaffSession(
        id=session_id(secret),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return secret, _live(row, account)


def touch(session: Session, secret: str, *, now: datetime, idle: timedelta) -> LiveSession | None:
    """The session of this secret if it is still accepted (marked as seen now), else None. A
    session idle for ``idle`` or longer is deleted."""
    found = session.execute(
        select(StaffSession, StaffAccount)
        .join(StaffAccount, StaffAccount.id == StaffSession.account_id)
        .where(StaffSession.id == session_id(secret))
    ).first()
    if found is None:
        return None
    row, account = found
    if row.last_seen_at <= now - idle:
        session.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return _live(row, account)


def end(session: Session, secret: str) -> bool:
    """Sign this session out; False when it had ended already."""
    result = session.execute(delete(StaffSession).where(StaffSession.id == session_id(secret)))
    return bool(getattr(result, "rowcount", 0))


def end_all_for(session: Session, raw_email: str) -> int:
    """Sign out every browser of this address; how many sessions ended (0 for no account)."""
    try:
        _, key = address_key(raw_email)
    except InputError:
        return 0
    account_id = session.scalar(select(StaffAccount.id).where(StaffAccount.email_key == key))
    return 0 if account_id is None else end_sessions(session, account_id)


def _live(row: StaffSession, account: StaffAccount) -> LiveSession:
    return LiveSession(
        id=row.id,
        account_id=account.id,
        email=account.email,
        name=account.name,
        role=Role(account.role),
        csrf_token=row.csrf_token,
    )
