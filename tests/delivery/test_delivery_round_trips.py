"""What a batch costs on PostgreSQL, counted on the wire (issue 17): the messages psycopg sends,
read from libpq's protocol trace. A round trip is one Sync (extended protocol) or one Query
(simple protocol); pings are empty queries (";").

The send loop's steady state is one claim and one "this batch SENT, the next one SENDING"
per batch: two round trips. It was seven: a ping at each of two checkouts, the claim, then
BEGIN, two UPDATEs and COMMIT. And the plans those statements get: made for their values."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from mailer.delivery.ledger import Ledger
from mailer.store import db
from tests.delivery_helpers import fill_list


class Wire:
    """libpq's trace of every connection ``engine`` opens, read back as frontend messages."""

    def __init__(self, engine: Engine, path: Path) -> None:
        import psycopg

        self.path = path
        self._file = path.open("w")
        flags = psycopg.pq.Trace.SUPPRESS_TIMESTAMPS

        def trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.pgconn.trace(self._file.fileno())
            dbapi_connection.pgconn.set_trace_flags(flags)

        event.listen(engine, "connect", trace)
        self._seen = 0

    def sent(self) -> list[str]:
        """The frontend messages that ended a round trip since the last call."""
        self._file.flush()
        lines = self.path.read_text().splitlines()
        new, self._seen = lines[self._seen :], len(lines)
        fields = [[*line.split("\t"), ""] for line in new if line.startswith("F\t")]
        return [f"{f[2]} {f[3].strip()}".strip() for f in fields if f[2] in {"Sync", "Query"}]

    def close(self) -> None:
        self._file.close()


@pytest.fixture
def traced(postgres_database: str, tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], Wire]]:
    from tests.conftest import _truncate

    engine = db.make_engine(postgres_database)
    _truncate(engine)
    engine.dispose()  # the connections opened from here on are traced
    wire = Wire(engine, tmp_path / "wire.txt")
    try:
        yield db.session_factory(engine), wire
    finally:
        engine.dispose()
        wire.close()


def test_a_batch_costs_two_round_trips_on_postgresql(
    traced: tuple[sessionmaker[Session], Wire], tmp_path: Path
) -> None:
    """Claim: one; the last batch SENT with the next one SENDING: one (no ping, no BEGIN or
    COMMIT of their own)."""
    from mailer.subscribers.segments import Audience
    from tests.fakes import make_template

    sessions, wire = traced
    fill_list(sessions, tmp_path, 30)
    ledger = Ledger(sessions)
    run, _ = ledger.start("round-trips", make_template(campaign_slug="x"), Audience())
    first = [r.subscriber_id for r in ledger.claim(run.id, 10).recipients]
    assert ledger.mark_in_flight(run.id, first) == set(first)
    wire.sent()
    for _ in range(2):  # the send loop's steady state, batch after batch
        claimed = [r.subscriber_id for r in ledger.claim(run.id, 10).recipients]
        assert len(wire.sent()) == 1
        assert ledger.mark_sent_and_start(run.id, first, "msg", claimed) == set(claimed)
        assert len(wire.sent()) == 1, "sent + in flight: one statement, alone"
        first = claimed
    ledger.mark_sent(run.id, first, "msg")
    assert ledger.counts(run.id)["sent"] == 30


def test_a_pooled_connection_is_pinged_only_after_sitting_idle(
    traced: tuple[sessionmaker[Session], Wire], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pool_pre_ping pinged at every checkout; now only a connection idle for PING_AFTER_IDLE."""
    sessions, wire = traced
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.3)
    with sessions() as session:
        session.execute(text("SELECT 1"))
    wire.sent()
    with sessions() as session:  # given back a moment ago: no ping
        session.execute(text("SELECT 1"))
    assert '";"' not in " ".join(wire.sent())
    time.sleep(0.4)
    with sessions() as session:
        session.execute(text("SELECT 1"))
    assert 'Query ";"' in wire.sent()[0], "idle: pinged first"


def test_a_connection_killed_while_idle_in_the_pool_is_replaced_unseen(
    traced: tuple[sessionmaker[Session], Wire],
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server restart (here: its backend terminated) while the worker waited for work: the
    ping finds the dead connection and the pool hands out a new one, as pre-ping did."""
    sessions, _wire = traced
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    with sessions() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    other = create_engine(postgres_database, poolclass=NullPool)
    with other.begin() as connection:
        killed = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert killed.scalar_one()
    other.dispose()
    with sessions() as session:
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_postgresql_plans_each_statement_for_its_parameters(postgres_database: str) -> None:
    """psycopg prepares a statement on the server from its fifth run, and PostgreSQL may then
    reuse a generic plan that ignores a batch's id range: "sent + start" took 2-3 times as long
    (issue 17). Every connection asks for custom plans."""
    engine = db.make_engine(postgres_database)
    try:
        with engine.connect() as connection:
            mode = connection.execute(text("SHOW plan_cache_mode")).scalar_one()
            assert mode == "force_custom_plan"
            connection.rollback()
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            assert autocommit.execute(text("SELECT 1")).scalar_one() == 1  # left usable
    finally:
        engine.dispose()
