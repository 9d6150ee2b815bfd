"""Per-message providers (SMTP, the outbox): each message recorded before the next goes."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.engine import Sender
from mailer.delivery.ledger import Ledger
from mailer.delivery.providers.outbox import OutboxProvider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.store.models import Delivery, DeliveryState
from mailer.subscribers.segments import Audience
from tests.delivery.test_delivery_ledger import TEMPLATE, add_people, outbox_messages, values


class Crash(BaseException):
    """The process dies here (as SIGKILL would): nothing after it runs."""


class CrashingOutbox(OutboxProvider):
    """The real outbox, which dies right after writing its ``crash_after``-th message."""

    def __init__(self, root: Path, crash_after: int) -> None:
        super().__init__(root)
        self.crash_after = crash_after
        self.written: list[int | None] = []

    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        message_id = super()._send_one(template, recipient)
        self.written.append(recipient.subscriber_id)
        if len(self.written) == self.crash_after:
            raise Crash
        return message_id


def states(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
        return {state: int(n) for state, n in rows}


@pytest.mark.both_databases
def test_a_crash_mid_batch_leaves_only_the_message_in_flight_to_send_again(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 10 item 21: with a per-message provider a crash part-way through a batch of 50
    re-sent every message of the batch accepted so far; now each message is recorded before
    the next goes, so only the one in flight is sent again (and counted)."""
    ids = add_people(sessions, 60)
    dead = f"{socket.gethostname()}:999999999"  # a process of this host that no longer exists
    crashed = Ledger(sessions, owner=dead)
    run, _ = crashed.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
    first = CrashingOutbox(tmp_path, crash_after=37)
    with pytest.raises(Crash):
        Sender(crashed, first, values, batch_size=50).run(run.id, TEMPLATE)
    assert states(sessions) == {
        DeliveryState.SENT: 36,  # recorded one by one as they were written
        DeliveryState.SENDING: 1,  # the 37th: written, the process died before recording it
        DeliveryState.CLAIMED: 13,  # the rest of the batch, never handed over
        DeliveryState.QUEUED: 10,
    }

    resumed = Ledger(sessions)
    second = CrashingOutbox(tmp_path, crash_after=0)
    outcome = Sender(resumed, second, values, batch_size=50).run(run.id, TEMPLATE)
    assert outcome.finished and outcome.reclaimed == 1
    got = Counter(first.written + second.written)
    assert set(got) == set(ids)
    assert [sid for sid, n in got.items() if n > 1] == [ids[36]]
    assert resumed.get_run(run.id).possible_duplicates == 1
    assert sorted(outbox_messages(tmp_path)) == ids


def test_the_per_message_record_leaves_pooled_connections_as_it_found_them(
    postgres_database: str,
) -> None:
    """Issue 10 item 21: the per-message record turns synchronous_commit off on its own
    connection only; a connection back in the pool commits durably again."""
    from mailer.store.db import make_engine, session_factory

    engine = make_engine(postgres_database, pool_size=1, max_overflow=0)
    sessions = session_factory(engine)
    ledger = Ledger(sessions)
    with ledger.messages(0) as record:
        assert record.connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    with sessions() as session:
        assert session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    engine.dispose()
