"""The delivery ledger's rules (delivery/ports.py) on SQLite, PostgreSQL and in memory.

Each rule is what "every recipient once" rests on; the engine tests on the in-memory ledger
(tests/delivery/test_engine_logic.py) hold for the SQL ledger because these pass on all three.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailer.delivery.ledger import Ledger
from mailer.delivery.ports import MAX_CLAIMS
from mailer.store.db import make_engine, session_factory
from mailer.store.models import DeliveryState
from tests.contract.conftest import DEAD_HERE, Backend, SqlWorld, empty_postgres

QUEUED, CLAIMED, SENDING = DeliveryState.QUEUED, DeliveryState.CLAIMED, DeliveryState.SENDING
SENT, FAILED, SKIPPED = DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED
LAPSED = timedelta(seconds=-1)  # a lease that has run out the moment it is taken

pytestmark = pytest.mark.memory


def test_two_claimers_at_once_never_get_the_same_recipient(backend: Backend) -> None:
    world = backend.world
    ids = world.add_people(40)
    run_id = world.start()
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    ready = threading.Barrier(2)
    errors: list[BaseException] = []

    def claim_all(owner: str) -> None:
        ledger = world.ledger(owner=f"host-{owner}:1")
        try:
            ready.wait()
            while batch := ledger.claim(run_id, 3).recipients:
                claimed[owner].extend(r.subscriber_id for r in batch)
        except BaseException as err:  # pragma: no cover - shown by the assert below
            errors.append(err)

    threads = [threading.Thread(target=claim_all, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert set(claimed["a"]).isdisjoint(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == ids  # each once, nobody left out
    assert set(world.states(run_id).values()) == {CLAIMED}


def test_a_claim_goes_by_subscriber_id_and_respects_a_live_owners_lease(
    backend: Backend,
) -> None:
    world = backend.world
    ids = world.add_people(5)
    run_id = world.start()
    first = world.ledger(owner="other-host:1").claim(run_id, 2)
    assert [r.subscriber_id for r in first.recipients] == ids[:2]
    second = world.ledger(owner="this-host:2").claim(run_id, 10)
    assert [r.subscriber_id for r in second.recipients] == ids[2:]
    assert second.reclaimed == 0
    assert world.ledger(owner="this-host:2").claim(run_id, 10).recipients == []


def test_a_lapsed_lease_is_taken_over_and_what_was_in_flight_counted(backend: Backend) -> None:
    world = backend.world
    ids = world.add_people(4)
    run_id = world.start()
    slow = world.ledger(owner="other-host:1")
    assert len(slow.claim(run_id, 3, lease=LAPSED).recipients) == 3
    assert slow.mark_in_flight(run_id, ids[:2]) == set(ids[:2])  # a request went out with 2

    taken = world.ledger(owner="this-host:2").claim(run_id, 10)
    assert [r.subscriber_id for r in taken.recipients] == ids[:3]  # lapsed leases first
    assert taken.reclaimed == 2 and world.possible_duplicates(run_id) == 2


def test_a_dead_owners_rows_on_this_machine_are_taken_over_at_once(backend: Backend) -> None:
    world = backend.world
    ids = world.add_people(4)
    run_id = world.start()
    dead = world.ledger(owner=DEAD_HERE)
    dead.claim(run_id, 2)  # a full two-minute lease; then the process is killed
    dead.mark_in_flight(run_id, ids[:1])

    alive = world.ledger(owner="this-host:2")
    assert [r.subscriber_id for r in alive.claim(run_id, 10).recipients] == ids[2:]  # queue
    again = alive.claim(run_id, 10)
    assert [r.subscriber_id for r in again.recipients] == ids[:2]
    assert again.reclaimed == 1 and world.possible_duplicates(run_id) == 1


def test_nobody_inactive_is_claimed_or_put_in_flight(backend: Backend) -> None:
    world = backend.world
    a, b, c, d = world.add_people(4)
    run_id = world.start()
    world.unsubscribe(b)  # after the audience was fixed, before the claim
    ledger = world.ledger()
    assert [r.subscriber_id for r in ledger.claim(run_id, 10).recipients] == [a, c, d]
    world.unsubscribe(c)  # after the claim, before the request
    assert ledger.mark_in_flight(run_id, [a, c, d]) == {a, d}
    assert world.states(run_id) == {a: SENDING, b: SKIPPED, c: SKIPPED, d: SENDING}


def test_sent_failed_and_skipped_recipients_are_never_claimed_again(backend: Backend) -> None:
    world = backend.world
    a, b, c, d = world.add_people(4)
    run_id = world.start()
    ledger = world.ledger()
    ledger.claim(run_id, 10)
    world.unsubscribe(c)
    assert ledger.mark_in_flight(run_id, [a, b, c, d]) == {a, b, d}
    ledger.mark_sent(run_id, [a], "msg-1")
    ledger.mark_failed(run_id, {b: "550 no such user"})
    ledger.release(run_id, [a, b, c, d], "provider down")  # gives back the leased one only
    assert world.states(run_id) == {a: SENT, b: FAILED, c: SKIPPED, d: QUEUED}
    assert world.errors(run_id)[d] == "provider down"
    assert [r.subscriber_id for r in ledger.claim(run_id, 10).recipients] == [d]
    assert not ledger.finish_if_done(run_id)
    ledger.mark_sent(run_id, [d], "msg-2")
    assert ledger.claim(run_id, 10).recipients == []
    assert ledger.finish_if_done(run_id)


def test_a_recipient_claimed_max_claims_times_without_success_is_given_up(
    backend: Backend,
) -> None:
    world = backend.world
    (a,) = world.add_people(1)
    run_id = world.start()
    ledger = world.ledger()
    for _ in range(MAX_CLAIMS):
        assert [r.subscriber_id for r in ledger.claim(run_id, 1).recipients] == [a]
        ledger.release(run_id, [a], "temporarily refused; will retry")
    assert ledger.claim(run_id, 1).recipients == []
    assert world.states(run_id) == {a: FAILED}
    assert world.errors(run_id)[a] == f"gave up after {MAX_CLAIMS} attempts"


def test_the_per_message_record_has_at_most_one_message_in_flight(backend: Backend) -> None:
    world = backend.world
    a, b, c, d = world.add_people(4)
    run_id = world.start()
    ledger = world.ledger()
    ledger.claim(run_id, 10)
    with ledger.messages(run_id) as record:
        assert record.advance(start=a)
        assert world.states(run_id) == {a: SENDING, b: CLAIMED, c: CLAIMED, d: CLAIMED}
        assert record.advance(sent=[a], start=b)
        assert world.states(run_id)[a] == SENT and world.states(run_id)[b] == SENDING
        world.unsubscribe(c)
        assert not record.advance(sent=[b], start=c)  # no longer active: skipped, not sent
        assert record.advance(start=d)
        assert not record.advance(failed={d: "550 no such user"})
    assert world.states(run_id) == {a: SENT, b: SENT, c: SKIPPED, d: FAILED}


@pytest.mark.postgres
def test_on_postgresql_a_claim_skips_the_rows_another_transaction_holds(
    postgres_database: str,
) -> None:
    """Two real connections: while one transaction holds the first rows locked, a claim takes
    the next ones at once instead of waiting for it (FOR UPDATE SKIP LOCKED). The claimer's
    lock_timeout turns a wait into a failure rather than a hang."""
    holder = make_engine(postgres_database)
    claimer = make_engine(postgres_database, connect_args={"options": "-c lock_timeout=3000"})
    try:
        empty_postgres(holder)
        world = SqlWorld(session_factory(holder))
        ids = world.add_people(6)
        run_id = world.start()
        with holder.connect() as locking, locking.begin():
            locking.execute(
                text(
                    "SELECT subscriber_id FROM deliveries WHERE campaign_id = :run "
                    "AND subscriber_id IN (:a, :b) FOR UPDATE"
                ),
                {"run": run_id, "a": ids[0], "b": ids[1]},
            )
            try:
                claim = Ledger(session_factory(claimer), owner="this-host:2").claim(run_id, 3)
            except OperationalError as err:  # pragma: no cover - the failure this test shows
                pytest.fail(f"the claim waited for the locked rows: {err}")
            assert [r.subscriber_id for r in claim.recipients] == ids[2:5]
    finally:
        holder.dispose()
        claimer.dispose()


def test_one_batch_sent_and_the_next_started_in_one_write(backend: Backend) -> None:
    """mark_sent_and_start: the send loop's one write between two requests (issue 17)."""
    world = backend.world
    a, b, c, d = world.add_people(4)
    run_id = world.start()
    ledger = world.ledger()
    ledger.claim(run_id, 2)
    assert ledger.mark_in_flight(run_id, [a, b]) == {a, b}
    ledger.claim(run_id, 2)
    world.unsubscribe(d)  # after the claim, before the request
    assert ledger.mark_sent_and_start(run_id, [a, b], "msg-1", [c, d]) == {c}
    assert world.states(run_id) == {a: SENT, b: SENT, c: SENDING, d: SKIPPED}
    assert ledger.mark_sent_and_start(run_id, [c], "msg-2", []) == set()
    assert world.states(run_id)[c] == SENT
    assert ledger.finish_if_done(run_id)
