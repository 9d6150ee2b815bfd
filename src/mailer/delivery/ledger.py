"""The delivery ledger: who gets a campaign, who got it, and what is in flight.

When a campaign starts, its audience is fixed in one INSERT ... SELECT (never loaded in memory).
Workers claim batches by subscriber id; on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so several
workers share a campaign. A claim is a lease: a worker that dies leaves its batch to the others
once the lease runs out, or at once when the dead owner is a process on this same machine.
A claimed batch is CLAIMED while it is prepared and SENDING from just before its request. Rows
taken over in SENDING are the only ones that can be duplicated (the one request in flight at the
crash); they are counted in ``CampaignRun.possible_duplicates``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.audience.segments import audience_query
from mailer.compose.campaign import Audience
from mailer.delivery.types import MessageTemplate
from mailer.models import (
    CampaignRun,
    Delivery,
    DeliveryState,
    SendState,
    Subscriber,
    SubscriberStatus,
    utcnow,
)

DEFAULT_LEASE = timedelta(minutes=2)
# A recipient claimed this many times without being accepted (temporary refusals) is given up.
MAX_CLAIMS = 8


def this_process() -> str:
    """A lease owner name: host and pid, so a dead owner on this host can be recognized."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead_here(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class ClaimedRecipient:
    subscriber_id: int
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class Claim:
    recipients: list[ClaimedRecipient]
    reclaimed: int  # rows taken over from a dead owner: they may have been sent already


def template_to_json(template: MessageTemplate) -> dict[str, Any]:
    data = asdict(template)
    data["categories"] = list(template.categories)
    return data


def template_from_json(data: dict[str, Any]) -> MessageTemplate:
    values = dict(data)
    values["categories"] = tuple(values.get("categories", ()))
    return MessageTemplate(**values)


class Ledger:
    """The store the send loop depends on; all of its SQL lives here."""

    def __init__(self, sessions: sessionmaker[Session], owner: str | None = None) -> None:
        self.sessions = sessions
        self.owner = owner or this_process()

    # -- runs ---------------------------------------------------------------------------------

    def find_run(self, slug: str) -> CampaignRun | None:
        with self.sessions() as session:
            return session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()

    def get_run(self, run_id: int) -> CampaignRun:
        with self.sessions() as session:
            run = session.get(CampaignRun, run_id)
            assert run is not None
            return run

    def start(
        self,
        slug: str,
        template: MessageTemplate,
        audience: Audience | None,
        links: Sequence[dict[str, Any]] = (),
    ) -> tuple[CampaignRun, bool]:
        """The campaign's run, created with its audience fixed if new. Returns (run, created)."""
        with self.sessions() as session, session.begin():
            existing = session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()
            if existing is not None:
                return existing, False
            run = CampaignRun(
                slug=slug,
                subject=template.subject,
                state=SendState.SENDING,
                template=template_to_json(template),
                links=[dict(link) for link in links],
            )
            session.add(run)
            session.flush()
            members = audience_query(audience).with_only_columns(
                literal(run.id), Subscriber.id, literal(DeliveryState.QUEUED)
            )
            session.execute(
                Delivery.__table__.insert().from_select(  # type: ignore[attr-defined]
                    ["campaign_id", "subscriber_id", "state"], members
                )
            )
            run.recipients = int(
                session.scalar(select(func.count()).where(Delivery.campaign_id == run.id)) or 0
            )
            return run, True

    def set_state(self, run_id: int, state: str, reason: str = "") -> None:
        with self.sessions() as session, session.begin():
            values: dict[str, Any] = {"state": state, "pause_reason": reason}
            if state == SendState.FINISHED:
                values["finished_at"] = utcnow()
            session.execute(update(CampaignRun).where(CampaignRun.id == run_id).values(**values))

    def finish_if_done(self, run_id: int) -> bool:
        """Mark the run finished when no recipient is queued or in flight."""
        with self.sessions() as session, session.begin():
            open_rows = session.scalar(
                select(func.count()).where(
                    Delivery.campaign_id == run_id,
                    Delivery.state.in_(DeliveryState.OPEN),
                )
            )
            if open_rows:
                return False
            session.execute(
                update(CampaignRun)
                .where(CampaignRun.id == run_id, CampaignRun.state != SendState.FINISHED)
                .values(state=SendState.FINISHED, pause_reason="", finished_at=utcnow())
            )
            return True

    # -- batches ------------------------------------------------------------------------------

    def claim(self, run_id: int, limit: int, lease: timedelta = DEFAULT_LEASE) -> Claim:
        """Take up to ``limit`` recipients in subscriber-id order and lease them to this owner.

        Recipients who stopped being active since the audience was fixed are marked skipped
        here, so nobody who unsubscribed, bounced or complained during a send is mailed after.
        An empty claim means nothing is left to claim (now).
        """
        while True:
            claim = self._claim_once(run_id, limit, lease)
            if claim is None:
                return Claim([], 0)
            if claim.recipients:
                return claim

    def _claim_once(self, run_id: int, limit: int, lease: timedelta) -> Claim | None:
        """One claim; None when no row was claimable, an empty Claim when all were skipped.

        Candidates are read first (on PostgreSQL locked with SKIP LOCKED), then every write is
        guarded by the condition that made them claimable, and the lease is taken with
        UPDATE ... RETURNING: on SQLite two claimers can read the same candidates, but only one
        of them gets each row back from the UPDATE.
        """
        now = utcnow()
        with self.sessions() as session, session.begin():
            # Three simple guards in turn rather than one OR, so each query walks the
            # (campaign_id, state, subscriber_id) index instead of scanning the campaign.
            guard: ColumnElement[bool] = and_(
                Delivery.state.in_(DeliveryState.LEASED), Delivery.lease_until < now
            )
            rows = self._candidates(session, run_id, limit, guard)
            if not rows:
                guard = Delivery.state == DeliveryState.QUEUED
                rows = self._candidates(session, run_id, limit, guard)
            if not rows:
                dead = self._dead_owners(session, run_id)
                if dead:
                    guard = and_(
                        Delivery.state.in_(DeliveryState.LEASED), Delivery.lease_owner.in_(dead)
                    )
                    rows = self._candidates(session, run_id, limit, guard)
            if not rows:
                return None

            def rows_where(ids: Iterable[int]) -> Any:
                return update(Delivery).where(
                    Delivery.campaign_id == run_id, Delivery.subscriber_id.in_(list(ids)), guard
                )

            exhausted = [row.subscriber_id for row in rows if row.attempts >= MAX_CLAIMS]
            if exhausted:
                session.execute(
                    rows_where(exhausted).values(
                        state=DeliveryState.FAILED,
                        error=f"gave up after {MAX_CLAIMS} attempts",
                        lease_until=None,
                    )
                )
            candidates = [row.subscriber_id for row in rows if row.attempts < MAX_CLAIMS]
            active = {
                row.subscriber_id: row
                for row in rows
                if row.attempts < MAX_CLAIMS and row.status == SubscriberStatus.ACTIVE
            }
            inactive = [sid for sid in candidates if sid not in active]
            if inactive:
                session.execute(
                    rows_where(inactive).values(
                        state=DeliveryState.SKIPPED, error="no longer active"
                    )
                )
            claimed: set[int] = set()
            if active:
                claimed = set(
                    session.scalars(
                        rows_where(active)
                        .values(
                            state=DeliveryState.CLAIMED,
                            lease_owner=self.owner,
                            lease_until=now + lease,
                            attempts=Delivery.attempts + 1,
                        )
                        .returning(Delivery.subscriber_id)
                    )
                )
            reclaimed = sum(
                1
                for row in rows
                if row.state == DeliveryState.SENDING and row.subscriber_id in claimed
            )
            if reclaimed:
                session.execute(
                    update(CampaignRun)
                    .where(CampaignRun.id == run_id)
                    .values(possible_duplicates=CampaignRun.possible_duplicates + reclaimed)
                )
            recipients = [
                ClaimedRecipient(
                    sid, active[sid].email, active[sid].first_name, active[sid].last_name
                )
                for sid in candidates
                if sid in claimed
            ]
            return Claim(recipients, reclaimed)

    @staticmethod
    def _candidates(
        session: Session, run_id: int, limit: int, guard: ColumnElement[bool]
    ) -> Sequence[Any]:
        query = (
            select(
                Delivery.subscriber_id,
                Delivery.state,
                Delivery.attempts,
                Subscriber.email,
                Subscriber.first_name,
                Subscriber.last_name,
                Subscriber.status,
            )
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.campaign_id == run_id, guard)
            .order_by(Delivery.subscriber_id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=Delivery, skip_locked=True)
        return session.execute(query).all()

    def _dead_owners(self, session: Session, run_id: int) -> list[str]:
        """Owners of in-flight rows that were processes on this machine and no longer exist."""
        owners = session.scalars(
            select(Delivery.lease_owner)
            .where(Delivery.campaign_id == run_id, Delivery.state.in_(DeliveryState.LEASED))
            .distinct()
        ).all()
        return [owner for owner in owners if owner != self.owner and _owner_is_dead_here(owner)]

    def mark_in_flight(self, run_id: int, subscriber_ids: Iterable[int]) -> set[int]:
        """Just before the request: rows still active become SENDING (from here on they may
        have been sent); anyone who stopped being active since the claim is skipped. Returns
        the ids to send."""
        ids = list(subscriber_ids)
        with self.sessions() as session, session.begin():
            active = set(
                session.scalars(
                    select(Subscriber.id).where(
                        Subscriber.id.in_(ids), Subscriber.status == SubscriberStatus.ACTIVE
                    )
                )
            )
            mine = and_(
                Delivery.campaign_id == run_id,
                Delivery.state == DeliveryState.CLAIMED,
                Delivery.lease_owner == self.owner,
            )
            gone = [sid for sid in ids if sid not in active]
            if gone:
                session.execute(
                    update(Delivery)
                    .where(mine, Delivery.subscriber_id.in_(gone))
                    .values(state=DeliveryState.SKIPPED, error="no longer active")
                )
            return set(
                session.scalars(
                    update(Delivery)
                    .where(mine, Delivery.subscriber_id.in_(list(active)))
                    .values(state=DeliveryState.SENDING)
                    .returning(Delivery.subscriber_id)
                )
            )

    def mark_sent(self, run_id: int, subscriber_ids: Iterable[int], message_id: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(Delivery)
                .where(
                    Delivery.campaign_id == run_id,
                    Delivery.subscriber_id.in_(list(subscriber_ids)),
                )
                .values(
                    state=DeliveryState.SENT,
                    provider_message_id=message_id,
                    sent_at=utcnow(),
                    lease_owner="",
                    lease_until=None,
                    error="",
                )
            )

    def mark_failed(self, run_id: int, failures: dict[int, str]) -> None:
        """Addresses the provider refused one by one (not retried)."""
        if not failures:
            return
        with self.sessions() as session, session.begin():
            for subscriber_id, reason in failures.items():
                session.execute(
                    update(Delivery)
                    .where(Delivery.campaign_id == run_id, Delivery.subscriber_id == subscriber_id)
                    .values(state=DeliveryState.FAILED, error=reason[:2000], lease_until=None)
                )

    def release(self, run_id: int, subscriber_ids: Iterable[int], error: str = "") -> None:
        """Give a batch back to the queue: the provider did not accept it."""
        with self.sessions() as session, session.begin():
            session.execute(
                update(Delivery)
                .where(
                    Delivery.campaign_id == run_id,
                    Delivery.subscriber_id.in_(list(subscriber_ids)),
                    Delivery.state.in_(DeliveryState.LEASED),
                )
                .values(
                    state=DeliveryState.QUEUED, lease_owner="", lease_until=None, error=error[:2000]
                )
            )

    def counts(self, run_id: int) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(
                select(Delivery.state, func.count())
                .where(Delivery.campaign_id == run_id)
                .group_by(Delivery.state)
            ).all()
        counts = dict.fromkeys(DeliveryState.ALL, 0)
        counts.update({state: int(n) for state, n in rows})
        return counts

    def active_runs(self) -> list[CampaignRun]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(CampaignRun)
                    .where(CampaignRun.state == SendState.SENDING)
                    .order_by(CampaignRun.id)
                )
            )
