"""A provider event is stored once (events/ingest.py), on SQLite and PostgreSQL: twice in one
batch, again in a retried batch, or in two deliveries of the batch racing each other."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from mailer.events.ingest import IngestResult, ingest
from mailer.events.sources.sendgrid import read_events
from mailer.store.models import Event, StatusChange, Subscriber
from mailer.subscribers.service import add_subscriber
from tests.contract.conftest import Backend


def person(backend: Backend) -> int:
    with backend.sessions() as session, session.begin():
        return add_subscriber(session, "ann@example.com").id


def sendgrid(kind: str, event_id: str, subscriber: int) -> dict[str, Any]:
    return {
        "event": kind,
        "sg_event_id": event_id,
        "timestamp": 1_700_000_000,
        "email": "ann@example.com",
        "subscriber_id": str(subscriber),
    }


def test_the_same_event_twice_is_stored_once_and_suppresses_once(backend: Backend) -> None:
    ann = person(backend)
    spam = sendgrid("spamreport", "evt-1", ann)
    first = ingest(backend.sessions, read_events([spam, sendgrid("open", "evt-2", ann), spam]))
    assert (first.stored, first.duplicates, first.suppressed) == (2, 1, 1)
    again = ingest(backend.sessions, read_events([spam]))
    assert (again.stored, again.duplicates, again.suppressed) == (0, 1, 0)
    assert backend.count(Event) == 2
    assert backend.count(StatusChange) == 2  # added, then complained: once


def test_two_deliveries_of_a_batch_racing_store_each_event_once(backend: Backend) -> None:
    """The provider retries a batch while the first delivery is still being stored: the
    unique event id (INSERT ... ON CONFLICT DO NOTHING) keeps one of each, and the complaint
    in it is in the person's history once."""
    ann = person(backend)
    batch = [sendgrid("open", f"evt-{n}", ann) for n in range(49)]
    batch.append(sendgrid("spamreport", "evt-spam", ann))
    results: list[IngestResult] = []
    ready = threading.Barrier(2)

    def deliver() -> None:
        ready.wait()
        results.append(ingest(backend.sessions, read_events(batch)))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    with backend.sessions() as session:
        stored = session.scalars(select(Event.source_event_id)).all()
        assert sorted(stored) == sorted(e["sg_event_id"] for e in batch)
        assert session.get_one(Subscriber, ann).status == "complained"
        history = session.scalars(
            select(StatusChange.new_status)
            .where(StatusChange.subscriber_id == ann)
            .order_by(StatusChange.id)
        ).all()
        assert history == ["active", "complained"]
