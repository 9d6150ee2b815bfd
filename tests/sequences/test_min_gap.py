"""min_gap (issue 16 item 4): no two emails to one person within ``[sequences] min_gap``; the
step waits, the weekly issue is never held. Injected clocks, on SQLite and PostgreSQL for the
ledger parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sequences import run_pass
from mailer.app.subscriber_list import add
from mailer.config import SequencesSettings
from mailer.sequences.due import DueStep, queue_due, waiting_steps
from mailer.store.db import transaction
from mailer.store.models import (
    CampaignRun,
    Delivery,
    DeliveryState,
    SendState,
    Subscriber,
    utcnow,
)
from mailer.workspace import Workspace
from tests.delivery_helpers import approve_file
from tests.sequences.test_cli import _recipients, _step
from tests.sequences.test_due import _person, _run, _sent

CATCH_UP = timedelta(days=2)
GAP = timedelta(hours=12)


def _weekly(
    sessions: sessionmaker[Session],
    person: int,
    *,
    sent_at: datetime | None,
    run_state: str = SendState.FINISHED,
    row_state: str = DeliveryState.SENT,
) -> int:
    """A weekly issue's run with one ledger row for ``person``."""
    with transaction(sessions) as session:
        run = CampaignRun(
            slug=f"weekly-{row_state}-{run_state}",
            subject="This week",
            state=run_state,
            template={"subject": "This week"},
            links=[],
            fingerprint="w",
            recipients=1,
        )
        session.add(run)
        session.flush()
        session.execute(
            insert(Delivery).values(
                campaign_id=run.id, subscriber_id=person, state=row_state, sent_at=sent_at
            )
        )
        return run.id


def _pass(sessions: sessionmaker[Session], steps: list[DueStep], now: datetime) -> dict[str, int]:
    with transaction(sessions) as session:
        return queue_due(session, "welcome", steps, now, CATCH_UP, GAP)


@pytest.mark.both_databases
def test_a_step_waits_min_gap_after_the_weekly_issue_and_then_goes_once(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    step = DueStep("day-1", timedelta(days=1), _run(sessions, "day-1"))
    jane = _person(sessions, "jane@example.com", now - timedelta(days=1, hours=2))
    _weekly(sessions, jane, sent_at=now - timedelta(hours=2))  # this morning's issue
    assert _pass(sessions, [step], now) == {}
    with sessions() as session:  # held people are not "waiting": the pass stays idle
        assert waiting_steps(session, "welcome", [step], now, CATCH_UP, GAP) == set()
    assert _pass(sessions, [step], now + timedelta(hours=9, minutes=59)) == {}
    assert _pass(sessions, [step], now + timedelta(hours=10, minutes=1)) == {"day-1": 1}
    assert _pass(sessions, [step], now + timedelta(hours=11)) == {}
    with transaction(sessions) as session:  # without min_gap it would have gone at once
        assert queue_due(session, "welcome", [step], now, CATCH_UP) == {}


@pytest.mark.both_databases
def test_a_weekly_issue_on_its_way_holds_the_step_a_paused_one_does_not(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    step = DueStep("welcome", timedelta(0), _run(sessions, "welcome"))
    jane = _person(sessions, "jane@example.com", now)
    bob = _person(sessions, "bob@example.com", now)
    _weekly(sessions, jane, sent_at=None, run_state=SendState.SENDING, row_state="queued")
    _weekly(sessions, bob, sent_at=None, run_state=SendState.PAUSED, row_state="claimed")
    assert _pass(sessions, [step], now) == {"welcome": 1}  # bob; jane's issue is going out
    with sessions() as session:
        queued = {
            row.subscriber_id
            for row in session.query(Delivery).filter(Delivery.campaign_id == step.run_id)
        }
    assert queued == {bob}


@pytest.mark.both_databases
def test_the_next_step_waits_min_gap_after_the_previous_one(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    first = DueStep("a-at-once", timedelta(0), _run(sessions, "a-at-once"))
    second = DueStep("b-an-hour-later", timedelta(hours=1), _run(sessions, "b-an-hour-later"))
    _person(sessions, "jane@example.com", now - timedelta(hours=2))
    assert _pass(sessions, [first, second], now) == {"a-at-once": 1}
    _sent(sessions, first.run_id or 0)
    with transaction(sessions) as session:
        session.execute(
            update(Delivery).where(Delivery.campaign_id == first.run_id).values(sent_at=now)
        )
    assert _pass(sessions, [first, second], now + timedelta(hours=11)) == {}
    assert _pass(sessions, [first, second], now + GAP) == {"b-an-hour-later": 1}


def test_a_pass_sends_the_step_after_the_weekly_issue_and_the_issue_once(
    workspace: Workspace, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SEQUENCES__MIN_GAP", "12h")
    workspace = Workspace(workspace.root)
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    approve_file(workspace, sessions, workspace.campaigns_dir / "welcome-0-hello.md")
    add(sessions, "jane@example.com")
    with sessions() as session:
        (jane,) = session.scalars(select(Subscriber.id)).all()
    issue = _weekly(sessions, jane, sent_at=datetime.now(UTC))  # the weekly went just now
    soon = datetime.now(UTC) + timedelta(hours=1)
    assert run_pass(workspace, sessions, now=lambda: soon).sent == 0
    assert _recipients(workspace, "welcome-0-hello") == []
    later = datetime.now(UTC) + timedelta(hours=12, minutes=1)
    assert run_pass(workspace, sessions, now=lambda: later).sent == 1
    assert _recipients(workspace, "welcome-0-hello") == ["jane@example.com"]
    with sessions() as session:  # the issue was neither held nor repeated
        rows = session.query(Delivery).filter(Delivery.campaign_id == issue).all()
    assert [(row.subscriber_id, row.state) for row in rows] == [(jane, DeliveryState.SENT)]


def test_min_gap_must_be_shorter_than_catch_up() -> None:
    assert SequencesSettings().min_gap == GAP
    assert SequencesSettings(min_gap="0s").min_gap == timedelta(0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="shorter than catch_up"):
        SequencesSettings(catch_up="1d", min_gap="1d")  # type: ignore[arg-type]
