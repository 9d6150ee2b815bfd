"""Staff accounts of the web app: add, list, remove, reset, set a password, check one.

Invariants:

- One account per address, case-insensitively (``email_key``).
- Two roles: an **editor** drafts, edits, previews and sends tests; an **owner** also approves,
  unapproves and manages subscribers and staff (``Role.may_approve``).
- A password is kept only as its Argon2id hash (mailer.staff.passwords), and only one that
  passed the strength rule. A new account has none until its person sets one from the one-time
  link (mailer.staff.invites), or one is given (``mailer staff add --password-stdin``).
- Removing an account, resetting it or setting its password ends every session it has, in the
  same transaction: that browser is signed out at its next request.
- Signing in (mailer.staff.signin) answers the same, in the same time, for an unknown
  address, an account without a password and a wrong password.

Callers commit (functions take a Session); clocks are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailer.errors import InputError
from mailer.staff.passwords import hash_password, password_problem
from mailer.store.staff_models import StaffAccount, StaffSession
from mailer.subscribers.normalize import MAX_NAME, InvalidAddress, normalize_email


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"

    @property
    def may_approve(self) -> bool:
        """Owners approve and unapprove, and manage subscribers and staff; editors do not."""
        return self is Role.OWNER


@dataclass(frozen=True)
class Account:
    """One staff account as `mailer staff list` shows it (never the hash)."""

    email: str
    name: str
    role: Role
    password_set: bool
    link_valid_until: datetime | None  # the unused one-time link, while it is valid
    sessions: int  # browsers signed in now (not idle past the limit)
    created_at: datetime
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "password_set": self.password_set,
            "link_valid_until": self.link_valid_until.isoformat()
            if self.link_valid_until
            else None,
            "sessions": self.sessions,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InputError(
            f"unknown staff role {value!r}",
            hint="use owner (approves, manages subscribers and staff) or editor (drafts, "
            "edits, sends tests)",
        ) from None


def address_key(raw: str) -> tuple[str, str]:
    """(normalized address, its case-folded key), or InputError naming the address."""
    try:
        address = normalize_email(raw)
    except InvalidAddress as err:
        raise InputError(
            f"{raw.strip()!r} is not an email address: {err}",
            hint="give the address the person signs in with, such as maria@yourclinic.example",
        ) from err
    return address.email, address.key


def find(session: Session, raw_email: str) -> StaffAccount | None:
    """The account of an address, or None (also for text that is no address)."""
    try:
        _, key = address_key(raw_email)
    except InputError:
        return None
    return session.scalar(select(StaffAccount).where(StaffAccount.email_key == key))


def get(session: Session, raw_email: str) -> StaffAccount:
    """The account of an address; InputError saying so when there is none."""
    account = find(session, raw_email)
    if account is None:
        raise InputError(
            f"no staff account for {raw_email.strip()}",
            hint="`mailer staff list` shows the accounts there are",
        )
    return account


def add(
    session: Session,
    raw_email: str,
    role: Role,
    *,
    now: datetime,
    name: str = "",
    password: str | None = None,
    by: str = "",
) -> StaffAccount:
    """A new account (flushed, so it has its id). InputError when the address has one already,
    or when ``password`` is given and too weak; nothing is stored then."""
    email, key = address_key(raw_email)
    if session.scalar(select(StaffAccount.id).where(StaffAccount.email_key == key)) is not None:
        raise InputError(
            f"{email} has a staff account already",
            hint=f"`mailer staff reset {email}` makes a new set-password link; "
            f"`mailer staff remove {email}` removes the account",
        )
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise InputError(f"the name has {len(name)} characters; at most {MAX_NAME}")
    account = StaffAccount(
        email=email, email_key=key, name=name, role=role.value, created_at=now, created_by=by
    )
    if password is not None:
        _set_hash(account, password, now)
    session.add(account)
    session.flush()
    return account


def list_accounts(session: Session, *, now: datetime, idle: timedelta) -> list[Account]:
    """Every account, by address; sessions idle longer than ``idle`` are not counted."""
    live = {
        account_id: count
        for account_id, count in session.execute(
            select(StaffSession.account_id, func.count())
            .where(StaffSession.last_seen_at > now - idle)
            .group_by(StaffSession.account_id)
        )
    }
    rows = session.scalars(select(StaffAccount).order_by(StaffAccount.email_key))
    return [
        Account(
            email=row.email,
            name=row.name,
            role=Role(row.role),
            password_set=bool(row.password_hash),
            link_valid_until=row.invite_expires_at
            if row.invite_hash and row.invite_expires_at and row.invite_expires_at > now
            else None,
            sessions=int(live.get(row.id, 0)),
            created_at=row.created_at,
            created_by=row.created_by,
        )
        for row in rows
    ]


def remove(session: Session, raw_email: str) -> int:
    """Delete the account and its sessions; how many sessions ended. InputError if unknown."""
    account = get(session, raw_email)
    ended = end_sessions(session, account.id)
    session.delete(account)
    session.flush()
    return ended


def clear_password(session: Session, account: StaffAccount) -> int:
    """The old password stops working and every session ends (`mailer staff reset`); how many
    sessions ended. The person sets a new one from their new link."""
    account.password_hash = ""
    account.password_set_at = None
    return end_sessions(session, account.id)


def set_password(session: Session, account: StaffAccount, password: str, *, now: datetime) -> int:
    """Store a new password (InputError when too weak; nothing changes then) and end every
    session the account has; how many ended."""
    _set_hash(account, password, now)
    return end_sessions(session, account.id)


def end_sessions(session: Session, account_id: int) -> int:
    result = session.execute(delete(StaffSession).where(StaffSession.account_id == account_id))
    return int(getattr(result, "rowcount", 0) or 0)


def _set_hash(account: StaffAccount, password: str, now: datetime) -> None:
    problem = password_problem(password, account.email)
    if problem:
        raise InputError(f"password not accepted: {problem}")
    account.password_hash = hash_password(password)
    account.password_set_at = now
    account.invite_hash = ""  # a one-time link still out there must not set another
    account.invite_expires_at = None
