"""One-time set-password links (issue 13 item 1): valid 24 hours, once, the newest only, signed
with the key policy. Storage on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError, TokenError
from mailer.staff import accounts, invites
from mailer.staff import sessions as staff_sessions
from mailer.staff.accounts import Role
from mailer.staff.passwords import verify
from mailer.store.db import transaction
from mailer.store.staff_models import StaffAccount
from mailer.tokens import SecretKey
from tests.staff.conftest import IDLE, PASSWORD, START

pytestmark = pytest.mark.both_databases  # storage rules: SQLite and PostgreSQL

KEY = SecretKey(b"test-secret-key-0123456789abcdef")


def new_link(factory: sessionmaker[Session], email: str = "maria@clinic.example") -> str:
    with transaction(factory) as db:
        account = accounts.add(db, email, Role.EDITOR, now=START)
        return invites.issue(db, account, KEY, now=START)


def account(factory: sessionmaker[Session]) -> StaffAccount:
    with factory() as db:
        return db.scalars(select(StaffAccount)).one()


def test_the_link_sets_the_password_once(sessions: sessionmaker[Session]) -> None:
    token = new_link(sessions)
    assert invites.url("https://news.clinic.example/", token) == (
        f"https://news.clinic.example/staff/welcome/{token}"
    )
    assert token not in account(sessions).invite_hash  # only a hash of its secret is kept
    with transaction(sessions) as db:  # opening it (GET) changes nothing
        assert invites.check(db, KEY, token, now=START).email == "maria@clinic.example"
    assert account(sessions).invite_hash
    with transaction(sessions) as db:
        invites.redeem(db, KEY, token, PASSWORD, now=START + timedelta(hours=1))
    assert verify(account(sessions).password_hash, PASSWORD)
    with pytest.raises(TokenError, match="not valid any more"), transaction(sessions) as db:
        invites.redeem(db, KEY, token, "another long passphrase", now=START)
    assert verify(account(sessions).password_hash, PASSWORD)


def test_a_weak_password_keeps_the_link_usable(sessions: sessionmaker[Session]) -> None:
    token = new_link(sessions)
    with pytest.raises(InputError, match="most common"), transaction(sessions) as db:
        invites.redeem(db, KEY, token, "password1234", now=START)
    with transaction(sessions) as db:
        invites.redeem(db, KEY, token, PASSWORD, now=START)


def test_the_link_expires_after_24_hours(sessions: sessionmaker[Session]) -> None:
    token = new_link(sessions)
    with transaction(sessions) as db:
        invites.check(db, KEY, token, now=START + timedelta(hours=23, minutes=59))
    with pytest.raises(TokenError, match="expired") as refused, transaction(sessions) as db:
        invites.redeem(db, KEY, token, PASSWORD, now=START + timedelta(hours=24))
    assert "mailer staff reset maria@clinic.example" in (refused.value.hint or "")
    assert account(sessions).password_hash == ""


def test_a_new_link_replaces_the_old_and_setting_a_password_signs_out(
    sessions: sessionmaker[Session],
) -> None:
    first = new_link(sessions)
    with transaction(sessions) as db:
        row = accounts.get(db, "maria@clinic.example")
        staff_sessions.create(db, row, now=START, idle=IDLE)
        second = invites.issue(db, row, KEY, now=START)
    with pytest.raises(TokenError), transaction(sessions) as db:
        invites.check(db, KEY, first, now=START)
    with transaction(sessions) as db:
        invites.redeem(db, KEY, second, PASSWORD, now=START)
    with sessions() as db:
        assert staff_sessions.end_all_for(db, "maria@clinic.example") == 0  # none left


@pytest.mark.parametrize("how", ["altered", "other key", "other kind"])
def test_an_altered_or_foreign_link_is_refused(sessions: sessionmaker[Session], how: str) -> None:
    token = new_link(sessions)
    if how == "altered":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        key = KEY
    elif how == "other key":
        key = SecretKey(b"another-key-entirely-0123456789")
    else:
        from mailer.tokens import unsubscribe_token

        token, key = unsubscribe_token(KEY, account(sessions).id), KEY
    with pytest.raises(TokenError), transaction(sessions) as db:
        invites.check(db, key, token, now=START)
