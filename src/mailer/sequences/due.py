"""Due steps become ledger rows: one ``Delivery`` per (person, step), once, in order.

A step of a series is a campaign run (``CampaignRun``, its slug the step's) whose rows are added
as people's steps fall due, instead of all at once; from there the delivery engine claims and
sends them as for a weekly issue (leases, retries, pauses, exactly-once states).

The rules ``queue_due`` keeps (``tests/sequences/`` checks them on SQLite and PostgreSQL):

- once: the row's primary key (run, person) decides, with INSERT ... ON CONFLICT DO NOTHING, so
  two passes at once, or a pass repeated after a crash, never add a person's step twice;
- on time: a step is due at joined_at + after, never before;
- catch-up: only while its due time is at most ``catch_up`` old: a step added (or approved)
  later goes to the people who just joined, never to everyone who joined long ago; a scheduler
  that was down longer than that does not send stale steps either;
- in order: steps are ordered by (after, slug); a person's step waits until each earlier step
  is done for them (its row sent, failed or skipped) or can never come (its due time is older
  than the catch-up window); an earlier step not approved holds the later ones back meanwhile;
- leaving stops it: a person who is not active, or who unsubscribed, bounced or complained at
  any time since joining, gets no step (their enrolment is marked left, and stays so even if
  they come back); the ledger's claim also skips anyone not active when their step goes out;
- one welcome email: a step due at once (``after: 0s``, step 0) is the welcome email, so it
  is not sent to a person whose enrolment says the built-in welcome email went to them
  (``welcomed_at``: they confirmed while the series had no approved step 0); for them the
  later steps count it as done;
- min_gap (``[sequences] min_gap``, default 12h): a step waits while the person had another
  ledger email (a weekly issue, a campaign, a step of any series) sent less than ``min_gap``
  ago, or has one on its way (a row still open in a run that is sending); it goes at the first
  pass after the gap. The weekly issue is never held or skipped for a step: it goes at its
  slot, once, and the step waits for it. So on a weekly day a person gets the step before the
  issue only if the step fell due (and went) before the issue started; one due once the issue
  is going out goes ``min_gap`` after it (then the sending window applies). Signup emails
  (the confirmation) are not in the ledger and hold nothing: step 0 goes at once. ``min_gap``
  is shorter than ``catch_up`` (the settings refuse otherwise), so a held step is late, never
  lost.

An idle pass reads only the index range of people whose step falls due within the window
(``ix_sequence_enrolments_due``), never the whole series; the min_gap test is added only once
someone is waiting, and runs for the people in that range on ``ix_deliveries_subscriber_sent``
(a person's recent emails). People held by min_gap are not "waiting", so a pass that finds
only them stays idle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, exists, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import StorageError
from mailer.store.db import insert_ignoring_duplicates
from mailer.store.models import (
    CampaignRun,
    Delivery,
    DeliveryState,
    SendState,
    SequenceEnrolment,
    StatusChange,
    Subscriber,
    SubscriberStatus,
    utcnow,
)

_DELIVERIES = cast(Table, Delivery.__table__)
QUEUED = DeliveryState.QUEUED
DONE = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED)


@dataclass(frozen=True)
class DueStep:
    """A step as a pass sees it: its place, delay and run (None: not approved, not sendable)."""

    slug: str
    after: timedelta
    run_id: int | None


def ordered(steps: Sequence[DueStep]) -> list[DueStep]:
    return sorted(steps, key=lambda step: (step.after, step.slug))


def queue_due(
    session: Session,
    series: str,
    steps: Sequence[DueStep],
    now: datetime,
    catch_up: timedelta,
    min_gap: timedelta = timedelta(0),
) -> dict[str, int]:
    """Add the rows of every step due now (see the module docstring); slug -> rows added.

    Per step, a first query asks whether anyone is waiting for it at all (an index range of
    the window plus the ledger's primary key): an idle pass stops there. Only then are the
    waiting people who left since joining marked so, and the rest queued; joining the
    subscribers table first made PostgreSQL scan all of it (42 ms of a 52 ms idle query with
    100,000 people, measured with EXPLAIN ANALYZE).
    """
    added: dict[str, int] = {}
    in_order = ordered(steps)
    for index, step in enumerate(in_order):
        if step.run_id is None:
            continue
        waiting = _someone_waiting(session, series, step, in_order[:index], now, catch_up, min_gap)
        if waiting is None:
            continue
        _mark_left(session, waiting, now)
        rows = (
            select(
                literal(step.run_id), SequenceEnrolment.subscriber_id, literal(DeliveryState.QUEUED)
            )
            .join(Subscriber, Subscriber.id == SequenceEnrolment.subscriber_id)
            .where(Subscriber.status == SubscriberStatus.ACTIVE, *waiting)
        )
        statement = insert_ignoring_duplicates(
            session, _DELIVERIES, "campaign_id", "subscriber_id"
        ).from_select(["campaign_id", "subscriber_id", "state"], rows)
        count = len(session.execute(statement.returning(Delivery.subscriber_id)).all())
        if count:
            added[step.slug] = count
            _reopen(session, step.run_id, count)
    return added


def waiting_steps(
    session: Session,
    series: str,
    steps: Sequence[DueStep],
    now: datetime,
    catch_up: timedelta,
    min_gap: timedelta = timedelta(0),
) -> set[str]:
    """The steps someone is waiting for now (``queue_due`` would add rows): one indexed EXISTS
    per step, so a pass checks a step's approval (rendering it) only when it is needed."""
    in_order = ordered(steps)
    return {
        step.slug
        for index, step in enumerate(in_order)
        if step.run_id is not None
        and _someone_waiting(session, series, step, in_order[:index], now, catch_up, min_gap)
        is not None
    }


def _someone_waiting(
    session: Session,
    series: str,
    step: DueStep,
    earlier: Sequence[DueStep],
    now: datetime,
    catch_up: timedelta,
    min_gap: timedelta,
) -> list[ColumnElement[bool]] | None:
    """The conditions of the people waiting for ``step`` now, or None when nobody is.

    Asked first without min_gap: an idle pass (nobody due) never builds or runs the min_gap
    test. With it in the one query, the idle storage work of bench/sequences.py took 8 ms more
    on SQLite (22 -> 30 and 30 -> 38 ms, 100,000 people, load average 9-10): Python's cost of
    the larger statement, as SQLite's plan ran the test for nobody."""
    waiting = _waiting(series, step, earlier, now, catch_up)
    if not session.scalar(select(exists().where(*waiting))):
        return None
    if min_gap > timedelta(0):
        waiting.append(~_recent_email(SequenceEnrolment.subscriber_id, now - min_gap))
        if not session.scalar(select(exists().where(*waiting))):
            return None  # all held by min_gap: an idle pass too
    return waiting


def due_now(
    session: Session,
    series: str,
    steps: Sequence[DueStep],
    now: datetime,
    catch_up: timedelta,
    min_gap: timedelta = timedelta(0),
    unapproved_runs: dict[str, int] | None = None,
) -> dict[str, int]:
    """Per step, the people it is due for now (a pass in the sending window would queue them):
    `mailer sequences list`'s "due now". A step that is not approved counts the people waiting
    for its approval (``unapproved_runs``: its run from an earlier approval, if any). A count
    over the catch-up window's index range, per step."""
    in_order = ordered(steps)
    counts: dict[str, int] = {}
    for index, step in enumerate(in_order):
        as_sent = step
        if step.run_id is None:  # -1: no ledger row of it exists
            as_sent = DueStep(step.slug, step.after, (unapproved_runs or {}).get(step.slug, -1))
        conditions = _waiting(series, as_sent, in_order[:index], now, catch_up)
        if min_gap > timedelta(0):
            conditions.append(~_recent_email(SequenceEnrolment.subscriber_id, now - min_gap))
        query = (
            select(func.count())
            .select_from(SequenceEnrolment)
            .join(Subscriber, Subscriber.id == SequenceEnrolment.subscriber_id)
            .where(Subscriber.status == SubscriberStatus.ACTIVE, *conditions)
        )
        counts[step.slug] = int(session.scalar(query) or 0)
    return counts


def next_due(
    session: Session, series: str, step: DueStep, now: datetime, catch_up: timedelta
) -> datetime | None:
    """When ``step`` next falls due for someone who has not had it (in the past: due now,
    waiting for a pass, an earlier step or the sending window); None when nobody will."""
    enrolment = SequenceEnrolment
    conditions: list[ColumnElement[bool]] = [
        enrolment.sequence == series,
        enrolment.left_at.is_(None),
        enrolment.joined_at > now - step.after - catch_up,
    ]
    if not step.after:  # who had the built-in welcome email never gets step 0
        conditions.append(enrolment.welcomed_at.is_(None))
    if step.run_id is not None:
        conditions.append(
            ~exists().where(
                Delivery.campaign_id == step.run_id,
                Delivery.subscriber_id == enrolment.subscriber_id,
            )
        )
    first = session.scalar(select(func.min(enrolment.joined_at)).where(*conditions))
    if first is None:
        return None
    joined = first if first.tzinfo else first.replace(tzinfo=UTC)
    return joined + step.after


def _waiting(
    series: str,
    step: DueStep,
    earlier: Sequence[DueStep],
    now: datetime,
    catch_up: timedelta,
) -> list[ColumnElement[bool]]:
    """Enrolments for whom ``step`` is due now, not yet queued, every earlier step done or
    missed: the conditions, on the enrolment alone (min_gap: ``_someone_waiting``)."""
    assert step.run_id is not None
    enrolment = SequenceEnrolment
    due_from = now - step.after - catch_up  # joined before this: the step's window has passed
    due_until = now - step.after  # joined after this: not due yet
    conditions: list[ColumnElement[bool]] = [
        enrolment.sequence == series,
        enrolment.left_at.is_(None),
        enrolment.joined_at > due_from,
        enrolment.joined_at <= due_until,
        ~exists().where(
            Delivery.campaign_id == step.run_id, Delivery.subscriber_id == enrolment.subscriber_id
        ),
    ]
    if not step.after:  # a step at once is the welcome email: not to someone who had it
        conditions.append(enrolment.welcomed_at.is_(None))
    for before in earlier:
        missed = enrolment.joined_at <= now - before.after - catch_up
        if not before.after:  # the built-in welcome email stood in for it
            missed = or_(missed, enrolment.welcomed_at.is_not(None))
        if before.run_id is None:
            conditions.append(missed)
            continue
        done = exists().where(
            Delivery.campaign_id == before.run_id,
            Delivery.subscriber_id == enrolment.subscriber_id,
            Delivery.state.in_(DONE),
        )
        conditions.append(or_(done, missed))
    return conditions


def _recent_email(subscriber_id: Any, since: datetime) -> ColumnElement[bool]:
    """The person had a ledger email sent after ``since``, or has one on its way (an open row
    of a run that is sending; a paused run's rows hold nothing, as it may stay paused for days).
    """
    sending = select(CampaignRun.id).where(CampaignRun.state == SendState.SENDING)
    return exists().where(
        Delivery.subscriber_id == subscriber_id,
        or_(
            Delivery.sent_at > since,
            and_(Delivery.state.in_(DeliveryState.OPEN), Delivery.campaign_id.in_(sending)),
        ),
    )


def _mark_left(session: Session, waiting: list[ColumnElement[bool]], now: datetime) -> None:
    """Waiting people who unsubscribed, bounced or complained since joining: left_at = now, so
    nothing more goes to them, even once they are back."""
    left = exists().where(
        StatusChange.subscriber_id == SequenceEnrolment.subscriber_id,
        StatusChange.changed_at >= SequenceEnrolment.joined_at,
        StatusChange.new_status.in_(SubscriberStatus.SUPPRESSED),
    )
    session.execute(
        update(SequenceEnrolment)
        .where(*waiting, left)
        .values(left_at=now)
        .execution_options(synchronize_session=False)
    )


def _reopen(session: Session, run_id: int, added: int) -> None:
    """New rows in a step's run: it is sending again (a finished step run is only idle)."""
    runs = update(CampaignRun).where(CampaignRun.id == run_id)
    session.execute(
        runs.values(recipients=CampaignRun.recipients + added).execution_options(
            synchronize_session=False
        )
    )
    # A paused run stays paused (the same rule as a weekly issue: a person resumes it).
    session.execute(
        runs.where(CampaignRun.state == SendState.FINISHED)
        .values(state=SendState.SENDING, finished_at=None)
        .execution_options(synchronize_session=False)
    )


def step_run(
    sessions: sessionmaker[Session],
    slug: str,
    subject: str,
    template: dict[str, Any],
    links: list[dict[str, Any]],
    fingerprint: str,
) -> int:
    """The step's campaign run (created empty: its rows come as people fall due). When the
    step was approved again with new content, the run sends that from now on."""
    for _attempt in range(2):
        try:
            with sessions() as session, session.begin():
                run = session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()
                if run is None:
                    run = CampaignRun(
                        slug=slug,
                        subject=subject,
                        state=SendState.FINISHED,  # nothing to send until someone is due
                        template=template,
                        links=links,
                        fingerprint=fingerprint,
                        recipients=0,
                        finished_at=utcnow(),
                    )
                    session.add(run)
                    session.flush()
                elif run.fingerprint != fingerprint:
                    run.subject, run.template, run.links = subject, template, links
                    run.fingerprint = fingerprint
                return run.id
        except IntegrityError:  # another pass created it at the same moment: use theirs
            continue
    raise StorageError(
        f"the run of step {slug!r} could not be created or found",
        hint="run `mailer sequences run` again; if it persists, check `mailer db status`",
    )
