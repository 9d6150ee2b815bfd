"""Server-side sessions (issue 13 item 2): found by the cookie's secret only, idle expiry,
sign-out, and every session of an address ended at once. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.staff import accounts
from mailer.staff import sessions as staff_sessions
from mailer.staff.accounts import Role
from mailer.staff.sessions import session_id
from mailer.store.db import transaction
from mailer.store.staff_models import StaffSession
from tests.staff.conftest import IDLE, START

pytestmark = pytest.mark.both_databases  # storage rules: SQLite and PostgreSQL


def start(factory: sessionmaker[Session], email: str = "maria@clinic.example") -> str:
    with transaction(factory) as db:
        account = accounts.find(db, email) or accounts.add(db, email, Role.EDITOR, now=START)
        secret, live = staff_sessions.create(db, account, now=START, idle=IDLE)
    assert live.email == email and live.role is Role.EDITOR
    return secret


def touch(factory: sessionmaker[Session], secret: str, after: timedelta) -> bool:
    with transaction(factory) as db:
        return staff_sessions.touch(db, secret, now=START + after, idle=IDLE) is not None


def last_seen(factory: sessionmaker[Session]) -> list[object]:
    with factory() as db:
        return list(db.scalars(select(StaffSession.last_seen_at)))


def test_a_session_is_found_by_its_secret_and_only_a_hash_is_stored(
    sessions: sessionmaker[Session],
) -> None:
    secret = start(sessions)
    with sessions() as db:
        row = db.scalars(select(StaffSession)).one()
    assert row.id == session_id(secret) != secret
    assert len(row.csrf_token) >= 40
    assert touch(sessions, secret, timedelta(minutes=5))
    assert not touch(sessions, secret + "x", timedelta(minutes=5))
    assert not touch(sessions, row.id, timedelta(minutes=5))  # the stored id signs nobody in


def test_an_idle_session_expires_and_use_keeps_it_alive(sessions: sessionmaker[Session]) -> None:
    secret = start(sessions)
    assert touch(sessions, secret, IDLE - timedelta(seconds=1))
    assert touch(sessions, secret, 2 * IDLE - timedelta(seconds=2))  # idle counts from last use
    assert not touch(sessions, secret, 3 * IDLE)
    with sessions() as db:  # and the expired row is gone
        assert db.scalar(select(func.count()).select_from(StaffSession)) == 0


def test_touch_writes_at_most_once_a_minute(sessions: sessionmaker[Session]) -> None:
    secret = start(sessions)
    touch(sessions, secret, timedelta(seconds=30))
    assert last_seen(sessions) == [START]
    touch(sessions, secret, timedelta(seconds=61))
    assert last_seen(sessions) == [START + timedelta(seconds=61)]


def test_sign_out_ends_one_session_and_end_all_for_every_one(
    sessions: sessionmaker[Session],
) -> None:
    first, second = start(sessions), start(sessions)
    other = start(sessions, "desk@clinic.example")
    with transaction(sessions) as db:
        assert staff_sessions.end(db, first)
        assert not staff_sessions.end(db, first)
    assert not touch(sessions, first, timedelta(0))
    assert touch(sessions, second, timedelta(0))
    with transaction(sessions) as db:
        assert staff_sessions.end_all_for(db, "MARIA@clinic.example") == 1
        assert staff_sessions.end_all_for(db, "nobody@clinic.example") == 0
        assert staff_sessions.end_all_for(db, "not an address") == 0
    assert not touch(sessions, second, timedelta(0))
    assert touch(sessions, other, timedelta(0))


def test_starting_a_session_sweeps_expired_rows(sessions: sessionmaker[Session]) -> None:
    start(sessions)
    with transaction(sessions) as db:
        account = accounts.get(db, "maria@clinic.example")
        staff_sessions.create(db, account, now=START + IDLE, idle=IDLE)
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(StaffSession)) == 1
