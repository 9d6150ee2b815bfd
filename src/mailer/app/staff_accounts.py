"""The staff accounts as `mailer staff` changes them: add, reset, remove, list.

The command line does no database work itself (tests/test_layers.py checks it): each command
calls one function here, which opens one transaction and returns a result dataclass with
``as_dict()`` for ``--json``. The rules are mailer.staff's (accounts, invites); the one-time
link is signed with the key `mailer serve` at web.base_url checks it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from mailer.staff import accounts, invites
from mailer.staff.accounts import Account, Role
from mailer.store.db import transaction
from mailer.store.models import utcnow
from mailer.tokens import SecretKey, signing_key
from mailer.workspace import Workspace


@dataclass(frozen=True)
class LinkResult:
    """What `mailer staff add` and `reset` made: the account and its one-time link."""

    email: str
    role: str
    link: str | None  # None when the password was given (--password-stdin)
    valid_until: datetime | None
    sessions_ended: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "role": self.role,
            "link": self.link,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "sessions_ended": self.sessions_ended,
        }


@dataclass(frozen=True)
class Removed:
    """What `mailer staff remove` did."""

    email: str
    sessions_ended: int

    def as_dict(self) -> dict[str, Any]:
        return {"email": self.email, "removed": True, "sessions_ended": self.sessions_ended}


def link_key(workspace: Workspace) -> SecretKey:
    """The key the link is signed with: the one `mailer serve` at web.base_url checks it with
    (mailer.tokens.signing_key: without MAILER_SECRET_KEY, only a server on this computer)."""
    host = urlsplit(workspace.settings.web.base_url).hostname or ""
    return signing_key(workspace, "serve", host=host)


def add_account(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    email: str,
    role: Role,
    *,
    name: str,
    password: str | None,
    by: str,
) -> LinkResult:
    """A new account; with no ``password``, its one-time set-password link."""
    key = None if password is not None else link_key(workspace)  # refuse before writing
    now = utcnow()
    with transaction(sessions) as db:
        account = accounts.add(db, email, role, now=now, name=name, password=password, by=by)
        token = invites.issue(db, account, key, now=now) if key is not None else None
        return LinkResult(
            account.email,
            account.role,
            invites.url(workspace.settings.web.base_url, token) if token else None,
            account.invite_expires_at if token else None,
        )


def reset_account(workspace: Workspace, sessions: sessionmaker[Session], email: str) -> LinkResult:
    """A new link; the old password and links stop working and its browsers are signed out."""
    key = link_key(workspace)
    now = utcnow()
    with transaction(sessions) as db:
        account = accounts.get(db, email)
        ended = accounts.clear_password(db, account)
        token = invites.issue(db, account, key, now=now)
        return LinkResult(
            account.email,
            account.role,
            invites.url(workspace.settings.web.base_url, token),
            account.invite_expires_at,
            ended,
        )


def remove_account(sessions: sessionmaker[Session], email: str) -> Removed:
    """The account gone and every browser signed in with it signed out."""
    with transaction(sessions) as db:
        address = accounts.get(db, email).email
        return Removed(address, accounts.remove(db, address))


def list_accounts(workspace: Workspace, sessions: sessionmaker[Session]) -> list[Account]:
    with transaction(sessions) as db:
        return accounts.list_accounts(db, now=utcnow(), idle=workspace.settings.staff.session_idle)
