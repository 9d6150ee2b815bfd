"""The storage rules of a series' due steps (mailer.sequences.due), on SQLite and PostgreSQL:
once (also with two passes at once), on time, within the catch-up window, in order, and never
to someone who left."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.sequences.due import DueStep, next_due, queue_due, step_run
from mailer.sequences.enrolment import enrol, enrol_existing, enrolled_count
from mailer.store.db import transaction
from mailer.store.models import Base, Delivery, DeliveryState, SequenceEnrolment, utcnow
from mailer.subscribers.service import add_subscriber, resubscribe, unsubscribe

pytestmark = pytest.mark.both_databases  # ON CONFLICT and claims: SQLite and PostgreSQL

CATCH_UP = timedelta(days=2)


def _run(sessions: sessionmaker[Session], slug: str) -> int:
    return step_run(sessions, slug, "Welcome", {"subject": "Welcome"}, [], fingerprint="f1")


def _person(sessions: sessionmaker[Session], email: str, joined: datetime | None) -> int:
    with transaction(sessions) as session:
        person = add_subscriber(session, email)
        if joined is not None:
            enrol(session, person.id, joined, source="test")
        return person.id


def _pass(sessions: sessionmaker[Session], steps: list[DueStep], now: datetime) -> dict[str, int]:
    with transaction(sessions) as session:
        return queue_due(session, "welcome", steps, now, CATCH_UP)


def _rows(sessions: sessionmaker[Session], run_id: int) -> dict[int, str]:
    with sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.state).where(Delivery.campaign_id == run_id)
        )
        return {subscriber_id: state for subscriber_id, state in rows}


def _sent(sessions: sessionmaker[Session], run_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(Delivery).where(Delivery.campaign_id == run_id).values(state=DeliveryState.SENT)
        )


def test_a_step_is_queued_when_due_and_only_once(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    step = DueStep("day-1", timedelta(days=1), _run(sessions, "day-1"))
    jane = _person(sessions, "jane@example.com", now)
    assert _pass(sessions, [step], now + timedelta(hours=23)) == {}
    assert _pass(sessions, [step], now + timedelta(days=1)) == {"day-1": 1}
    assert _pass(sessions, [step], now + timedelta(days=1, minutes=1)) == {}
    assert _rows(sessions, step.run_id or 0) == {jane: DeliveryState.QUEUED}


def test_two_passes_at_once_queue_each_step_once(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    step = DueStep("welcome", timedelta(0), _run(sessions, "welcome"))
    people = [_person(sessions, f"p{n}@example.com", now) for n in range(30)]
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def one_pass() -> None:
        start.wait()
        try:
            results.append(_pass(sessions, [step], now))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(result.get("welcome", 0) for result in results) == len(people)
    assert sorted(_rows(sessions, step.run_id or 0)) == sorted(people)


def test_a_step_added_later_goes_only_to_people_within_the_catch_up_window(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    long_ago = _person(sessions, "old@example.com", now - timedelta(days=30))
    recent = _person(sessions, "recent@example.com", now - timedelta(days=2, hours=12))
    step = DueStep("day-1", timedelta(days=1), _run(sessions, "day-1"))
    assert _pass(sessions, [step], now) == {"day-1": 1}
    assert list(_rows(sessions, step.run_id or 0)) == [recent]
    assert long_ago not in _rows(sessions, step.run_id or 0)


def test_steps_go_in_order(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    first = DueStep("a-at-once", timedelta(0), _run(sessions, "a-at-once"))
    second = DueStep("b-an-hour-later", timedelta(hours=1), _run(sessions, "b-an-hour-later"))
    jane = _person(sessions, "jane@example.com", now - timedelta(hours=2))
    # Both are due; the second waits until the first is done for her.
    assert _pass(sessions, [second, first], now) == {"a-at-once": 1}
    assert _pass(sessions, [second, first], now) == {}
    _sent(sessions, first.run_id or 0)
    assert _pass(sessions, [second, first], now) == {"b-an-hour-later": 1}
    assert list(_rows(sessions, second.run_id or 0)) == [jane]


def test_an_unapproved_earlier_step_holds_the_later_ones_back(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    draft = DueStep("a-draft", timedelta(0), None)
    later = DueStep("b-later", timedelta(hours=1), _run(sessions, "b-later"))
    _person(sessions, "jane@example.com", now - timedelta(hours=2))
    old = _person(sessions, "old@example.com", now - timedelta(days=2, minutes=30))
    # Jane is still within the draft's window (it may be approved and sent to her first);
    # for the other person the draft can never come, so the later step goes on.
    assert _pass(sessions, [draft, later], now) == {"b-later": 1}
    assert list(_rows(sessions, later.run_id or 0)) == [old]


def test_people_who_left_get_nothing_more_even_after_coming_back(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    step = DueStep("welcome", timedelta(0), _run(sessions, "welcome"))
    _person(sessions, "jane@example.com", now - timedelta(minutes=5))
    with transaction(sessions) as session:
        person, _ = unsubscribe(session, "jane@example.com")
        resubscribe(
            session,
            person,
            consent_source="test",
            consent_text="asked",
            reason="asked again",
            source="test",
        )
    assert _pass(sessions, [step], now) == {}
    with sessions() as session:
        left = session.scalar(select(SequenceEnrolment.left_at))
    assert left is not None
    assert enrolled_count(sessions(), "welcome") == 0


def test_enrolling_twice_does_not_restart_and_existing_people_only_on_request(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    jane = _person(sessions, "jane@example.com", now - timedelta(days=1))
    _person(sessions, "patient@example.com", None)
    with transaction(sessions) as session:
        assert not enrol(session, jane, now, source="again")
        assert enrolled_count(session, "welcome") == 1
        assert enrol_existing(session, "welcome", now) == 1
        assert enrol_existing(session, "welcome", now) == 0
    with sessions() as session:
        joined = session.scalar(
            select(SequenceEnrolment.joined_at).where(SequenceEnrolment.subscriber_id == jane)
        )
    assert joined == now - timedelta(days=1)


def test_the_migrations_create_the_series_tables_and_indexes_as_the_model_declares(
    engine: Engine,
) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            diff
            for diff in compare_metadata(context, Base.metadata)
            if "sequence_enrolments" in repr(diff) or "ix_deliveries_subscriber_sent" in repr(diff)
        ]
    assert differences == []


def test_step_0_is_not_a_second_welcome_and_the_later_steps_still_go(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    hello = DueStep("a-hello", timedelta(0), _run(sessions, "a-hello"))
    later = DueStep("b-an-hour-later", timedelta(hours=1), _run(sessions, "b-an-hour-later"))
    jane = _person(sessions, "jane@example.com", now - timedelta(hours=2))
    bob = _person(sessions, "bob@example.com", now - timedelta(hours=2))
    with transaction(sessions) as session:  # jane had the built-in welcome email at signup
        session.execute(
            update(SequenceEnrolment)
            .where(SequenceEnrolment.subscriber_id == jane)
            .values(welcomed_at=now - timedelta(hours=2))
        )
    assert _pass(sessions, [hello, later], now) == {"a-hello": 1, "b-an-hour-later": 1}
    assert list(_rows(sessions, hello.run_id or 0)) == [bob]
    assert list(_rows(sessions, later.run_id or 0)) == [jane]  # bob's waits for his step 0
    with sessions() as session:  # and `scheduler status` does not show step 0 due for jane
        assert next_due(session, "welcome", hello, now, CATCH_UP) is None
