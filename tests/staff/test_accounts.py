"""Staff accounts (issue 13 item 1): Argon2id hashes, the password rule, roles, one account per
address, removal. Storage on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError
from mailer.staff import accounts, passwords
from mailer.staff import sessions as staff_sessions
from mailer.staff.accounts import Role
from mailer.staff.passwords import password_problem, verify
from mailer.staff.signin import sign_in
from mailer.store.db import transaction
from mailer.store.staff_models import StaffAccount, StaffSession
from tests.conftest import TEST_HASHER
from tests.staff.conftest import IDLE, PASSWORD, START

pytestmark = pytest.mark.both_databases  # storage rules: SQLite and PostgreSQL


@pytest.mark.usefixtures("production_hasher")  # the suite hashes cheaply (tests/conftest.py)
def test_a_password_is_kept_only_as_an_argon2id_hash(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as db:
        accounts.add(db, "Maria.Lopez@Clinic.example", Role.OWNER, now=START, password=PASSWORD)
    with sessions() as db:
        row = db.scalars(select(StaffAccount)).one()
    assert row.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in row.password_hash
    assert verify(row.password_hash, PASSWORD)
    assert not verify(row.password_hash, PASSWORD.upper())
    assert not verify("", PASSWORD)  # no password set: never a match
    assert row.email_key == "maria.lopez@clinic.example"
    assert row.password_set_at == START


@pytest.mark.usefixtures("production_hasher")
def test_a_hash_made_with_weaker_parameters_is_upgraded_at_sign_in(
    sessions: sessionmaker[Session],
) -> None:
    """The cheap hashes the other tests make are weaker than production's: signing in with one
    replaces it with a production hash (and the default parameters are argon2-cffi's)."""
    assert passwords.PRODUCTION.check_needs_rehash(PasswordHasher().hash(PASSWORD)) is False
    with transaction(sessions) as db:
        accounts.add(db, "maria@clinic.example", Role.OWNER, now=START)
        account = accounts.find(db, "maria@clinic.example")
        assert account is not None
        account.password_hash = TEST_HASHER.hash(PASSWORD)
    assert sign_in(sessions, "maria@clinic.example", PASSWORD, now=START, idle=IDLE).secret
    with sessions() as db:
        upgraded = db.scalars(select(StaffAccount.password_hash)).one()
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify(upgraded, PASSWORD)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short one", "at least 12 characters (this one has 9)"),
        ("Password2024!", "most common passwords"),
        ("correct horse battery staple", "most common passwords"),
        ("Chiropractic!!", "most common passwords"),
        ("qwertyuiopas", "run of keys"),
        ("123456789012", "run of keys"),
        ("abcdabcdabcd", "run of keys"),
        ("aaaaaaaaaaaa", "too few characters"),
        ("maria.lopez-2026", "your email address"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    problem = password_problem(password, "maria.lopez@clinic.example")
    assert problem is not None and reason in problem


def test_a_long_unusual_password_is_accepted() -> None:
    assert password_problem(PASSWORD, "maria.lopez@clinic.example") is None
    assert password_problem("Tuesday moss, 4 kettles!", "maria.lopez@clinic.example") is None


def test_a_refused_password_stores_nothing(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(InputError, match="at least 12 characters"), transaction(sessions) as db:
        accounts.add(db, "maria@clinic.example", Role.OWNER, now=START, password="tooshort")
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(StaffAccount)) == 0


def test_roles_and_one_account_per_address(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as db:
        accounts.add(db, "owner@clinic.example", Role.OWNER, now=START, name="  Ana   Ruiz ")
        accounts.add(db, "desk@clinic.example", accounts.parse_role("Editor"), now=START)
    twice = pytest.raises(InputError, match="has a staff account already")
    with twice, transaction(sessions) as db:
        accounts.add(db, "DESK@clinic.example", Role.OWNER, now=START)
    with pytest.raises(InputError, match="unknown staff role 'admin'"):
        accounts.parse_role("admin")
    with sessions() as db:
        listed = accounts.list_accounts(db, now=START, idle=IDLE)
    assert [(a.email, a.name, a.role, a.password_set) for a in listed] == [
        ("desk@clinic.example", "", Role.EDITOR, False),
        ("owner@clinic.example", "Ana Ruiz", Role.OWNER, False),
    ]
    assert Role.OWNER.may_approve and not Role.EDITOR.may_approve
    assert listed[0].as_dict()["role"] == "editor"


def test_remove_ends_every_session_and_names_an_unknown_address(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as db:
        account = accounts.add(db, "maria@clinic.example", Role.EDITOR, now=START)
        staff_sessions.create(db, account, now=START, idle=IDLE)
        staff_sessions.create(db, account, now=START, idle=IDLE)
    with transaction(sessions) as db:
        assert accounts.remove(db, "Maria@Clinic.example") == 2
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(StaffSession)) == 0
        assert db.scalar(select(func.count()).select_from(StaffAccount)) == 0
    unknown = pytest.raises(InputError, match=r"no staff account for nobody@clinic\.example")
    with unknown, transaction(sessions) as db:
        accounts.remove(db, "nobody@clinic.example")
