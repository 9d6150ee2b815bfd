"""The property of issue 16's tests: over any sequence of joins, leaves, weekly issues and passes
(an injected clock), nobody gets a step twice, out of order, after leaving, before it is due,
later than the catch-up window, or within min_gap of another email (a weekly issue or a step);
a step approved later behaves as one added later; every weekly issue goes to everyone active,
never held by a step. Random sequences from fixed seeds, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.sequences.due import DueStep, queue_due, step_run
from mailer.sequences.enrolment import enrol
from mailer.store.db import transaction
from mailer.store.models import (
    CampaignRun,
    Delivery,
    DeliveryState,
    SendState,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from mailer.subscribers.service import add_subscriber, unsubscribe

pytestmark = pytest.mark.both_databases  # the docstring's promise: it was SQLite only

CATCH_UP = timedelta(days=2)
MIN_GAP = timedelta(hours=12)
AFTERS = {"s0": timedelta(0), "s1": timedelta(hours=5), "s2": timedelta(days=1)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nobody_gets_a_step_twice_early_late_out_of_order_or_after_leaving(
    sessions: sessionmaker[Session], seed: int
) -> None:
    rng = random.Random(seed)
    # Simulated time runs up to the real now, so a leave (recorded at the real now) comes
    # after every simulated join, as it does in real order.
    now = utcnow() - timedelta(days=40)
    runs = {slug: step_run(sessions, slug, slug, {"subject": slug}, [], "f") for slug in AFTERS}
    approved_from = now + timedelta(days=rng.uniform(4, 6))  # s2 approved only then
    joined: dict[int, datetime] = {}
    emails: dict[int, str] = {}
    left: set[int] = set()
    got: dict[tuple[int, str], datetime] = {}
    last_email: dict[int, datetime] = {}  # per person, their latest step or weekly issue
    weekly = 0
    for event in range(120):
        # Mostly passes every few hours; sometimes a scheduler down for days (steps due at once,
        # some beyond the catch-up window).
        now += timedelta(hours=rng.uniform(0, 3) if rng.random() < 0.9 else rng.uniform(0, 80))
        roll = rng.random()
        if roll < 0.3:
            with transaction(sessions) as session:
                person = add_subscriber(session, f"p{seed}-{event}@example.com")
                enrol(session, person.id, now, source="test")
                joined[person.id] = now
                emails[person.id] = person.email
        elif roll < 0.4 and joined:
            who = rng.choice(sorted(joined))
            with transaction(sessions) as session:
                unsubscribe(session, emails[who])
            left.add(who)
        elif roll < 0.5:
            weekly += 1
            for person_id in _weekly_issue(sessions, weekly, now):
                last_email[person_id] = now
        else:
            steps = [
                DueStep(slug, after, None if slug == "s2" and now < approved_from else runs[slug])
                for slug, after in AFTERS.items()
            ]
            with transaction(sessions) as session:
                queue_due(session, "welcome", steps, now, CATCH_UP, MIN_GAP)
            sent_before = set(got)  # what went out in earlier passes (the ledger's SENT rows)
            for slug, person_id in _queued(sessions, runs):
                assert (person_id, slug) not in got, "twice"
                assert person_id not in left, "after leaving"
                due = joined[person_id] + AFTERS[slug]
                assert due <= now, "before it was due"
                assert now - due <= CATCH_UP, "later than the catch-up window"
                for earlier, after in AFTERS.items():
                    if after < AFTERS[slug] or (after == AFTERS[slug] and earlier < slug):
                        missed = joined[person_id] + after + CATCH_UP <= now
                        assert (person_id, earlier) in sent_before or missed, "out of order"
                previous = last_email.get(person_id)
                assert previous is None or now - previous >= MIN_GAP, "within min_gap"
                got[(person_id, slug)] = now
                last_email[person_id] = now
            _send_all(sessions, now)
    assert got, "the scenario sent nothing: it tests nothing"
    assert weekly, "the scenario had no weekly issue: min_gap is untested"


def _queued(sessions: sessionmaker[Session], runs: dict[str, int]) -> list[tuple[str, int]]:
    slugs = {run_id: slug for slug, run_id in runs.items()}
    with sessions() as session:
        rows = session.execute(
            select(Delivery.campaign_id, Delivery.subscriber_id).where(
                Delivery.state == DeliveryState.QUEUED
            )
        )
        return sorted((slugs[run_id], person_id) for run_id, person_id in rows)


def _send_all(sessions: sessionmaker[Session], now: datetime) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.QUEUED)
            .values(state=DeliveryState.SENT, sent_at=now)
        )


def _weekly_issue(sessions: sessionmaker[Session], number: int, now: datetime) -> list[int]:
    """A weekly issue sent at ``now`` to everyone active (steps never hold it back)."""
    with transaction(sessions) as session:
        run = CampaignRun(
            slug=f"weekly-{number}",
            subject="This week",
            state=SendState.FINISHED,
            template={"subject": "This week"},
            links=[],
            fingerprint="w",
            recipients=0,
        )
        session.add(run)
        session.flush()
        people = list(
            session.scalars(
                select(Subscriber.id).where(Subscriber.status == SubscriberStatus.ACTIVE)
            )
        )
        for person_id in people:
            session.add(
                Delivery(
                    campaign_id=run.id,
                    subscriber_id=person_id,
                    state=DeliveryState.SENT,
                    sent_at=now,
                )
            )
        return people
