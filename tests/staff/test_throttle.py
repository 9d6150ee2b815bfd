"""The sign-in throttle (issue 13 item 2): 5 failures for one address in 15 minutes, then wait,
even with the right password. SQLite and PostgreSQL, with an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.staff import accounts, throttle
from mailer.staff.accounts import Role
from mailer.staff.signin import Outcome, sign_in
from mailer.store.db import transaction
from mailer.store.staff_models import StaffLoginFailure
from tests.staff.conftest import IDLE, PASSWORD, START

pytestmark = pytest.mark.both_databases  # storage rules: SQLite and PostgreSQL


def fail(factory: sessionmaker[Session], email: str, after: timedelta) -> None:
    with transaction(factory) as db:
        throttle.record_failure(db, email, now=START + after)


def wait(factory: sessionmaker[Session], email: str, after: timedelta) -> timedelta | None:
    with factory() as db:
        return throttle.wait_for(db, email, now=START + after)


def test_five_failures_in_15_minutes_make_the_address_wait(
    sessions: sessionmaker[Session],
) -> None:
    for minute in range(5):
        assert wait(sessions, "maria@clinic.example", timedelta(minutes=minute)) is None
        fail(sessions, "maria@clinic.example", timedelta(minutes=minute))
    # The first failure (minute 0) leaves the window at minute 15: a 6-minute wait at minute 9.
    assert wait(sessions, " MARIA@clinic.example", timedelta(minutes=9)) == timedelta(minutes=6)
    assert wait(sessions, "desk@clinic.example", timedelta(minutes=9)) is None
    assert wait(sessions, "maria@clinic.example", timedelta(minutes=15)) is None
    with sessions() as db:  # who tried which address is not kept, only a hash
        stored = set(db.scalars(select(StaffLoginFailure.address_hash)))
    assert stored == {throttle.address_hash("maria@clinic.example")}


def test_the_right_password_waits_too_and_a_success_clears_the_count(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as db:
        accounts.add(db, "maria@clinic.example", Role.OWNER, now=START, password=PASSWORD)

    def attempt(password: str, minutes: float) -> Outcome:
        at = START + timedelta(minutes=minutes)
        return sign_in(sessions, "maria@clinic.example", password, now=at, idle=IDLE).outcome

    assert [attempt("wrong password here", m) for m in range(4)] == [Outcome.NO_MATCH] * 4
    assert attempt(PASSWORD, 4) is Outcome.SIGNED_IN  # the 5th attempt is right: count cleared
    assert [attempt("wrong password here", 5 + m) for m in range(5)] == [Outcome.NO_MATCH] * 5
    result = sign_in(
        sessions, "maria@clinic.example", PASSWORD, now=START + timedelta(minutes=10), idle=IDLE
    )
    assert result.outcome is Outcome.WAIT and result.wait == timedelta(minutes=10)
    assert result.secret == "" and result.session is None
    assert attempt(PASSWORD, 14) is Outcome.WAIT  # waiting attempts are not counted...
    assert attempt(PASSWORD, 20) is Outcome.SIGNED_IN  # ...so the wait ends on time


def test_an_unknown_address_and_a_wrong_password_answer_alike(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as db:
        accounts.add(db, "maria@clinic.example", Role.OWNER, now=START, password=PASSWORD)
        accounts.add(db, "desk@clinic.example", Role.EDITOR, now=START)  # no password yet
    answers = {
        email: sign_in(sessions, email, PASSWORD[::-1], now=START, idle=IDLE)
        for email in ("maria@clinic.example", "nobody@clinic.example", "desk@clinic.example")
    }
    assert {result.outcome for result in answers.values()} == {Outcome.NO_MATCH}
    assert len({result for result in answers.values()}) == 1  # nothing else differs
    for email in answers:  # each counted against its own address
        for _ in range(4):
            fail(sessions, email, timedelta(0))
        assert wait(sessions, email, timedelta(0)) is not None
