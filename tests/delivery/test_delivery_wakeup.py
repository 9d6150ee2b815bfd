"""Idle workers' wait (delivery/ledger/wakeup.py): a NOTIFY ends it on PostgreSQL, the poll
everywhere; a broken listening connection falls back to polling instead of stopping."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.ledger.wakeup import Wakeups
from mailer.store.db import make_engine, session_factory


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_on_sqlite_a_wait_is_the_poll_and_a_stop_ends_it(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    with Wakeups(sessions, clock=clock, sleep=clock.sleep) as wakeups:
        assert not wakeups.listening
        assert wakeups.wait(5.0) is False
        assert clock.now == pytest.approx(5.0)
        assert wakeups.wait(5.0, should_stop=lambda: clock.now >= 6.0) is False
        assert clock.now == pytest.approx(6.0)  # seen within one step (0.2 s), not at 10


def test_on_postgresql_a_notice_ends_the_wait_and_a_broken_listener_falls_back_to_polling(
    postgres_database: str,
) -> None:
    engine = make_engine(postgres_database)
    try:
        with Wakeups(session_factory(engine)) as wakeups:
            assert wakeups.listening
            assert wakeups.wait(0.3) is False  # nothing announced
            with engine.begin() as connection:
                connection.execute(text("SELECT pg_notify('mailer_delivery', '7')"))
            assert wakeups.wait(30.0) is True
            pid = wakeups._listener.info.backend_pid
            with engine.begin() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            assert wakeups.wait(0.5) is False  # logged, not raised
            assert not wakeups.listening
            assert wakeups.wait(0.3) is False
    finally:
        engine.dispose()
