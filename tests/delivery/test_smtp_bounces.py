"""An SMTP server's permanent refusal of an address bounces it, as a SendGrid bounce would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import (
    CampaignRun,
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    StatusChange,
    Subscriber,
    SubscriberStatus,
)
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import SLUG, fill_list, smtp_environment, write_campaign
from tests.fakes.smtp_server import FakeSmtp


@pytest.mark.slow
def test_an_address_refused_for_good_at_rcpt_is_bounced_and_suppressed(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 17: a 550 5.1.1 at RCPT used to fail the delivery only, leaving the
    address active; now the subscriber is bounced through the webhook's suppression code (a
    history row, an Event of kind bounced from source smtp). A 4xx at RCPT is retried; a
    policy refusal (550 5.7.1 relaying denied) and a 5xx at DATA fail the delivery only."""
    emails = fill_list(sessions, tmp_path, 12)
    gone, busy, relay, content = emails[3], emails[5], emails[7], emails[9]
    write_campaign(workspace, sessions, smtp_environment(database_url, 25))  # base_url renders
    with FakeSmtp(
        refuse={gone},
        rcpt_replies={busy: ["450 4.2.1 Mailbox busy"], relay: ["550 5.7.1 Relaying denied"]},
        refuse_data={content},
    ) as server:
        env = smtp_environment(database_url, server.port, batch_size=5)
        result = mailer("send", SLUG, "--yes", env=env, process=True)
        assert result.exit_code == 0, result.stdout + result.stderr
        received = sorted(message.rcpt_tos[0] for message in server.messages)
        report = json.loads(mailer("report", SLUG, "--json", env=env, process=True).stdout)
    assert received == sorted(set(emails) - {gone, relay, content})  # busy: on the retry

    with sessions() as session:
        run = session.scalars(select(CampaignRun)).one()
        people = {s.email: s for s in session.scalars(select(Subscriber))}
        deliveries = {
            d.subscriber_id: d
            for d in session.scalars(select(Delivery).where(Delivery.campaign_id == run.id))
        }
        events = list(session.scalars(select(Event)))
        history = list(
            session.scalars(select(StatusChange).where(StatusChange.new_status == "bounced"))
        )
    assert people[gone].status == SubscriberStatus.BOUNCED
    assert all(people[e].status == SubscriberStatus.ACTIVE for e in (busy, relay, content))
    for email, state in (
        (gone, DeliveryState.FAILED),
        (relay, DeliveryState.FAILED),
        (content, DeliveryState.FAILED),
        (busy, DeliveryState.SENT),
    ):
        assert deliveries[people[email].id].state == state, email
    assert "550 5.1.1" in deliveries[people[gone].id].error
    assert [(e.kind, e.source, e.subscriber_id, e.campaign_id) for e in events] == [
        (EventKind.BOUNCED, "smtp", people[gone].id, run.id)
    ]
    assert events[0].raw["smtp_code"] == 550
    assert [(h.subscriber_id, h.old_status, h.source) for h in history] == [
        (people[gone].id, SubscriberStatus.ACTIVE, "smtp")
    ]
    assert "SMTP server refused it" in history[0].reason
    assert report["bounced"] == 1 and report["failed"] == 3 and report["sent"] == 9


@pytest.mark.both_databases
def test_recording_the_same_refusal_again_changes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 10 item 17: a resumed send that meets the same refusal again stores no second
    event and writes no second history row (the event id names campaign and subscriber)."""
    from mailer.events.ingest import RefusedAddress, record_smtp_bounces

    fill_list(sessions, tmp_path, 2)
    with sessions() as session:
        person = session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
        assert person is not None
        refused = RefusedAddress(person.id, person.email, 550, "550 5.1.1 No such user here")
    first = record_smtp_bounces(sessions, 123, "no-such-run", [refused])
    again = record_smtp_bounces(sessions, 123, "no-such-run", [refused])
    assert (first.stored, first.suppressed) == (1, 1)
    assert (again.stored, again.duplicates, again.suppressed) == (0, 1, 0)
    with sessions() as session:
        bounced = select(StatusChange).where(StatusChange.new_status == "bounced")
        assert len(list(session.scalars(bounced))) == 1
        assert session.get(Subscriber, person.id).status == SubscriberStatus.BOUNCED  # type: ignore[union-attr]
