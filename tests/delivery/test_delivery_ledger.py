"""The delivery ledger and send loop on SQLite and PostgreSQL, through the real outbox provider."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.engine import Sender, SendOutcome
from mailer.delivery.ledger import ClaimedRecipient, Ledger
from mailer.delivery.providers.outbox import OutboxProvider
from mailer.delivery.types import MessageTemplate
from mailer.store.db import make_engine, session_factory
from mailer.store.models import CampaignRun, Delivery, DeliveryState, Subscriber, SubscriberStatus
from mailer.subscribers.segments import Audience
from mailer.subscribers.service import add_subscriber, delete_subscriber, unsubscribe

# The ledger's statements are built per dialect (SKIP LOCKED, autocommit logs on PostgreSQL).
pytestmark = pytest.mark.both_databases

TEMPLATE = MessageTemplate(
    campaign_slug="issue-12",
    from_email="news@summitspine.example",
    from_name="Summit Upper Cervical",
    subject="Posture at the desk",
    html="<p>Hi %%first_name%%</p><a href='%%unsubscribe_url%%'>Unsubscribe</a>",
    text="Hi %%first_name%%\nUnsubscribe: %%unsubscribe_url%%",
    headers={
        "List-Unsubscribe": "<%%unsubscribe_url%%>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
)


def values(person: ClaimedRecipient) -> dict[str, str]:
    return {
        "%%first_name%%": person.first_name or "there",
        "%%unsubscribe_url%%": f"https://news.summitspine.example/u/{person.subscriber_id}",
    }


def add_people(sessions: sessionmaker[Session], count: int, tag: str = "") -> list[int]:
    with sessions() as session, session.begin():
        people = [
            add_subscriber(
                session,
                f"patient{n}@example.com",
                first_name=f"P{n}",
                tags=[tag] if tag else [],
            )
            for n in range(count)
        ]
        session.flush()
        return [p.id for p in people]


def outbox_messages(root: Path) -> dict[int, EmailMessage]:
    """The outbox's messages by subscriber id (the end of their unsubscribe link, see values)."""
    messages = [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted((root / TEMPLATE.campaign_slug).glob("*.eml"))
    ]
    return {
        int(str(message["List-Unsubscribe"]).strip("<>").rsplit("/", 1)[1]): message  # type: ignore[misc]
        for message in messages
    }


def send_all(
    sessions: sessionmaker[Session], outbox: Path, **kwargs: object
) -> tuple[Ledger, int, SendOutcome]:
    ledger = Ledger(sessions)
    run, _ = ledger.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
    sender = Sender(ledger, OutboxProvider(outbox), values, batch_size=3, **kwargs)  # type: ignore[arg-type]
    return ledger, run.id, sender.run(run.id, TEMPLATE)


def test_everyone_gets_the_issue_once_and_a_finished_run_sends_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = add_people(sessions, 7)
    ledger, run_id, outcome = send_all(sessions, tmp_path)
    assert outcome.finished and outcome.sent == 7
    messages = outbox_messages(tmp_path)
    assert sorted(messages) == ids
    first = messages[ids[0]]
    assert first["List-Unsubscribe"] == f"<https://news.summitspine.example/u/{ids[0]}>"
    assert "Hi P0" in first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    counts = ledger.counts(run_id)
    assert counts["sent"] == 7 and counts["queued"] == counts["sending"] == 0

    for path in (tmp_path / TEMPLATE.campaign_slug).glob("*.eml"):
        path.unlink()
    again = Sender(ledger, OutboxProvider(tmp_path), values).run(run_id, TEMPLATE)
    assert again.sent == 0 and outbox_messages(tmp_path) == {}


def test_audience_is_fixed_when_the_campaign_starts(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    add_people(sessions, 3, tag="patients")
    add_people_late = ["late@example.com"]
    ledger = Ledger(sessions)
    run, created = ledger.start(TEMPLATE.campaign_slug, TEMPLATE, Audience(any_of=["patients"]))
    assert created and run.recipients == 3
    with sessions() as session, session.begin():
        for email in add_people_late:
            add_subscriber(session, email, tags=["patients"])
    same, created_again = ledger.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
    assert not created_again and same.id == run.id
    outcome = Sender(ledger, OutboxProvider(tmp_path), values).run(run.id, TEMPLATE)
    assert outcome.sent == 3
    with sessions() as session:
        late_id = session.scalar(
            select(Subscriber.id).where(Subscriber.email == "late@example.com")
        )
    assert late_id not in outbox_messages(tmp_path)


def test_who_got_the_issue_is_one_query(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    add_people(sessions, 4)
    _, run_id, _ = send_all(sessions, tmp_path)
    with sessions() as session:
        got = session.scalars(
            select(Subscriber.email)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.campaign_id == run_id, Delivery.state == DeliveryState.SENT)
            .order_by(Subscriber.id)
        ).all()
    assert got == [f"patient{n}@example.com" for n in range(4)]


def test_unsubscribed_during_a_send_is_not_mailed_afterwards(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = add_people(sessions, 9)
    ledger = Ledger(sessions)
    run, _ = ledger.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())

    def unsubscribe_the_last_after_first_batch(_: SendOutcome) -> None:
        with sessions() as session, session.begin():
            unsubscribe(session, "patient8@example.com", source="web")
            delete_subscriber(session, "patient7@example.com")

    sender = Sender(
        ledger,
        OutboxProvider(tmp_path),
        values,
        batch_size=3,
        on_progress=unsubscribe_the_last_after_first_batch,
    )
    outcome = sender.run(run.id, TEMPLATE)
    assert outcome.finished
    assert sorted(outbox_messages(tmp_path)) == ids[:7]
    counts = ledger.counts(run.id)
    assert counts["sent"] == 7 and counts["skipped"] == 1  # the deleted row is erased entirely


def test_rows_of_a_dead_sender_are_resumed_and_counted_as_possible_duplicates(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = add_people(sessions, 5)
    crashed = Ledger(sessions, owner=f"{__import__('socket').gethostname()}:999999999")
    run, _ = crashed.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
    in_flight = crashed.claim(run.id, 2)
    assert [r.subscriber_id for r in in_flight.recipients] == ids[:2]
    assert crashed.mark_in_flight(run.id, ids[:2]) == set(ids[:2])  # the request went out...
    prepared = crashed.claim(run.id, 2)  # ...the next batch was being prepared, then kill -9
    assert [r.subscriber_id for r in prepared.recipients] == ids[2:4]

    resumed = Ledger(sessions)
    outcome = Sender(resumed, OutboxProvider(tmp_path), values).run(run.id, TEMPLATE)
    assert outcome.finished
    assert sorted(outbox_messages(tmp_path)) == ids
    assert outcome.reclaimed == 2
    assert resumed.get_run(run.id).possible_duplicates == 2


def test_a_live_owners_lease_is_respected(sessions: sessionmaker[Session]) -> None:
    add_people(sessions, 4)
    first = Ledger(sessions, owner="other-host:1")
    run, _ = first.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
    taken = first.claim(run.id, 2)
    second = Ledger(sessions, owner="this-host:2").claim(run.id, 10)
    assert {r.subscriber_id for r in taken.recipients}.isdisjoint(
        {r.subscriber_id for r in second.recipients}
    )
    assert len(second.recipients) == 2 and second.reclaimed == 0


STATUS = st.sampled_from([*SubscriberStatus.ALL, "deleted"])


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    before=st.lists(STATUS, min_size=1, max_size=12),
    during=st.dictionaries(st.integers(0, 11), STATUS, max_size=6),
)
def test_nobody_suppressed_or_deleted_is_ever_sent_to(
    database_url: str, tmp_path_factory: object, before: list[str], during: dict[int, str]
) -> None:
    """Property: whatever statuses people have before and change to during a send, only those
    active when their batch is claimed get mail, and each of them exactly once."""
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    outbox = Path(tmp_path_factory.mktemp("outbox"))  # type: ignore[attr-defined]
    _reset(sessions)
    ids = add_people(sessions, len(before))
    for index, status in enumerate(before):
        _apply(sessions, index, status)
    ledger = Ledger(sessions)
    run, _ = ledger.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
    changes = {i: s for i, s in during.items() if i < len(ids)}

    def change_statuses_after_first_batch(_: SendOutcome) -> None:
        for index, status in list(changes.items()):
            _apply(sessions, index, status)
            changes.pop(index)

    sender = Sender(
        ledger,
        OutboxProvider(outbox),
        values,
        batch_size=4,
        on_progress=change_statuses_after_first_batch,
    )
    sender.run(run.id, TEMPLATE)

    audience = [i for i, status in enumerate(before) if status == SubscriberStatus.ACTIVE]
    first_batch = audience[:4]
    final = {**dict(enumerate(before)), **{i: s for i, s in during.items() if i < len(ids)}}
    later = [i for i in audience[4:] if final[i] == SubscriberStatus.ACTIVE]
    assert set(outbox_messages(outbox)) == {ids[i] for i in first_batch + later}
    engine.dispose()


def _reset(sessions: sessionmaker[Session]) -> None:
    from mailer.store.models import Base

    with sessions() as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


def _apply(sessions: sessionmaker[Session], index: int, status: str) -> None:
    email = f"patient{index}@example.com"
    with sessions() as session, session.begin():
        subscriber = session.scalars(select(Subscriber).where(Subscriber.email == email)).first()
        if subscriber is None:
            return
        if status == "deleted":
            delete_subscriber(session, email)
        else:
            subscriber.status = status  # any state, not a real move: the ledger reads it


def test_run_is_recorded_with_its_message(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    add_people(sessions, 2)
    send_all(sessions, tmp_path)
    with sessions() as session:
        run = session.scalars(select(CampaignRun)).one()
        assert run.template["subject"] == TEMPLATE.subject
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2
