"""Claims: who sends to whom. A batch is leased to one owner, by subscriber id.

On PostgreSQL candidates are locked with ``FOR UPDATE SKIP LOCKED``, so several workers share a
campaign without waiting on each other. A claim is a lease: a worker that dies leaves its batch
to the others once the lease runs out, or at once when the dead owner is a process on this same
machine. Rows taken over in SENDING are the only ones that can be duplicated (the one request
or message in flight at the crash); they are counted in ``CampaignRun.possible_duplicates``.
On PostgreSQL a claim and ``mark_in_flight`` are one statement each (pg.py), and
``mark_in_flight`` renews the lease for the request in the same statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import CursorResult, select
from sqlalchemy.orm import Session

from mailer.delivery.ledger import pg
from mailer.delivery.ledger.base import LedgerBase
from mailer.delivery.ledger.statements import statements
from mailer.delivery.ports import MAX_CLAIMS, Claim, ClaimedRecipient
from mailer.store.leases import owner_is_dead_here
from mailer.store.models import Delivery, DeliveryState, SubscriberStatus, utcnow

DEFAULT_LEASE = timedelta(minutes=2)


class _Candidate(NamedTuple):
    """One claimable row, in the order of ``Statements.candidates``' columns."""

    subscriber_id: int
    state: str
    attempts: int
    email: str
    first_name: str
    last_name: str
    status: str


def _candidates(result: CursorResult[Any]) -> list[_Candidate]:
    # Plain tuples: a claim reads about ten fields of each of its 1,000 rows, and a Row's
    # attribute costs ~1 µs where a NamedTuple's costs ~0.05 (issue 17).
    return [_Candidate._make(row) for row in result.all()]


class Claims(LedgerBase):
    def claim(self, run_id: int, limit: int, lease: timedelta = DEFAULT_LEASE) -> Claim:
        """Take up to ``limit`` recipients in subscriber-id order and lease them to this owner.

        Recipients who stopped being active since the audience was fixed are marked skipped
        here, so nobody who unsubscribed, bounced or complained during a send is mailed after.
        An empty claim means nothing is left to claim (now).
        """
        self.leases[run_id] = lease
        if self.dialect() == "postgresql":
            return self._claim_postgresql(run_id, limit, lease)
        while True:
            claim = self._claim_once(run_id, limit, lease)
            if claim is None:
                return Claim([], 0)
            if claim.recipients:
                return claim

    def _claim_postgresql(self, run_id: int, limit: int, lease: timedelta) -> Claim:
        """The same claim in one statement per try (pg.py says why and how)."""
        while True:
            now = utcnow()
            params: dict[str, Any] = {
                "run_id": run_id,
                "limit": limit,
                "now": now,
                "owner": self.owner,
                "lease_until": now + lease,
                "give_up": f"gave up after {MAX_CLAIMS} attempts",
            }
            with self.alone() as connection:
                rows = connection.execute(pg.CLAIM, params).all()
                if not rows:
                    with self.sessions() as session:
                        dead = self._dead_owners(session, run_id)
                    if not dead:
                        return Claim([], 0)
                    rows = connection.execute(pg.CLAIM_DEAD, {**params, "dead": dead}).all()
                    if not rows:
                        return Claim([], 0)
            recipients = [
                ClaimedRecipient(row.subscriber_id, row.email, row.first_name, row.last_name)
                for row in rows
                if row.state == DeliveryState.CLAIMED
            ]
            if recipients:  # else every row was given up or skipped: claim again
                reclaimed = sum(
                    1
                    for row in rows
                    if row.was == DeliveryState.SENDING and row.state == DeliveryState.CLAIMED
                )
                return Claim(recipients, reclaimed)

    def _claim_once(self, run_id: int, limit: int, lease: timedelta) -> Claim | None:
        """One claim; None when no row was claimable, an empty Claim when all were skipped.

        Candidates are read first (on PostgreSQL locked with SKIP LOCKED), then every write is
        guarded by the condition that made them claimable, and the lease is taken with
        UPDATE ... RETURNING: on SQLite two claimers can read the same candidates, but only one
        of them gets each row back from the UPDATE.

        The statements are Core, built once (``statements``) and run on the session's
        connection: the ORM's bulk UPDATE and row loading cost more than the SQL here.
        """
        now = utcnow()
        with self.sessions() as session, session.begin():
            connection = session.connection()
            sql = statements(connection.dialect.name)
            # Three simple guards in turn rather than one OR, so each query walks the
            # (campaign_id, state, subscriber_id) index instead of scanning the campaign.
            guard = "expired"
            params: dict[str, Any] = {"run_id": run_id, "limit": limit, "now": now}
            rows = _candidates(connection.execute(sql.candidates[guard], params))
            if not rows:
                guard = "queued"
                rows = _candidates(connection.execute(sql.candidates[guard], params))
            if not rows:
                dead = self._dead_owners(session, run_id)
                if dead:
                    guard = "dead"
                    params["dead"] = dead
                    rows = _candidates(connection.execute(sql.candidates[guard], params))
            if not rows:
                return None

            exhausted = [row.subscriber_id for row in rows if row.attempts >= MAX_CLAIMS]
            if exhausted:
                connection.execute(
                    sql.give_up[guard],
                    {**params, "ids": exhausted, "error": f"gave up after {MAX_CLAIMS} attempts"},
                )
            candidates = [row.subscriber_id for row in rows if row.attempts < MAX_CLAIMS]
            active = {
                row.subscriber_id: row
                for row in rows
                if row.attempts < MAX_CLAIMS and row.status == SubscriberStatus.ACTIVE
            }
            inactive = [sid for sid in candidates if sid not in active]
            if inactive:
                connection.execute(sql.skip[guard], {**params, "ids": inactive})
            claimed: set[int] = set()
            if active:
                claimed = set(
                    connection.execute(
                        sql.take[guard],
                        {
                            **params,
                            "ids": list(active),
                            "owner": self.owner,
                            "lease_until": now + lease,
                        },
                    )
                    .scalars()
                    .all()  # fetchall: iterating fetches row by row (~2 µs a row)
                )
            reclaimed = sum(
                1
                for row in rows
                if row.state == DeliveryState.SENDING and row.subscriber_id in claimed
            )
            if reclaimed:
                connection.execute(sql.count_duplicates, {"run_id": run_id, "n": reclaimed})
            recipients = []
            for sid in candidates:
                if sid in claimed:
                    row = active[sid]
                    recipients.append(
                        ClaimedRecipient(sid, row.email, row.first_name, row.last_name)
                    )
            return Claim(recipients, reclaimed)

    def _dead_owners(self, session: Session, run_id: int) -> list[str]:
        """Owners of in-flight rows that were processes on this machine and no longer exist."""
        owners = session.scalars(
            select(Delivery.lease_owner)
            .where(Delivery.campaign_id == run_id, Delivery.state.in_(DeliveryState.LEASED))
            .distinct()
        ).all()
        return [owner for owner in owners if owner != self.owner and owner_is_dead_here(owner)]

    def mark_in_flight(self, run_id: int, subscriber_ids: Iterable[int]) -> set[int]:
        """Just before the request: rows still active become SENDING (from here on they may
        have been sent); anyone who stopped being active since the claim is skipped. Returns
        the ids to send.

        One UPDATE takes this owner's CLAIMED rows of the batch whose subscriber is still
        active to SENDING; only when it returns fewer than the batch does a second one mark
        this owner's rows of the batch still CLAIMED (the inactive) skipped.
        """
        ids = list(subscriber_ids)
        if not ids:
            return set()
        if self.dialect() == "postgresql":  # one statement, which also renews the lease
            params = {
                "run_id": run_id,
                "owner": self.owner,
                **pg.batch(ids),
                "lease_until": utcnow() + self.leases.get(run_id, DEFAULT_LEASE),
            }
            with self.alone() as connection:
                return set(connection.execute(pg.START_SENDING, params).scalars())
        with self.sessions() as session, session.begin():
            connection = session.connection()
            sql = statements(connection.dialect.name)
            params = {"run_id": run_id, "owner": self.owner, "ids": ids}
            started = set(connection.execute(sql.start_sending, params).scalars())
            if len(started) < len(ids):
                connection.execute(sql.skip_gone, params)
            return started
