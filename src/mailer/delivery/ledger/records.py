"""State changes after a claim: what the provider did with each recipient, and the run's own
state (sending, paused with a reason, finished once nothing is queued or in flight)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from mailer.delivery.ledger import pg
from mailer.delivery.ledger.base import LedgerBase
from mailer.delivery.ledger.claims import DEFAULT_LEASE
from mailer.delivery.ledger.statements import statements
from mailer.store.models import CampaignRun, Delivery, DeliveryState, SendState, utcnow


class Records(LedgerBase):
    def mark_sent(self, run_id: int, subscriber_ids: Iterable[int], message_id: str) -> None:
        ids = list(subscriber_ids)
        if not ids:
            return
        params = {"run_id": run_id, "ids": ids, "message_id": message_id, "now": utcnow()}
        if self.dialect() == "postgresql":
            with self.alone() as connection:
                connection.execute(pg.MARK_SENT, {**params, **pg.batch(ids)})
            return
        with self.sessions() as session, session.begin():
            connection = session.connection()
            connection.execute(statements(connection.dialect.name).mark_sent, params)

    def mark_sent_and_start(
        self, run_id: int, sent: Iterable[int], message_id: str, start: Iterable[int]
    ) -> set[int]:
        """One batch SENT and the next one SENDING (this owner's CLAIMED rows still active;
        the others skipped), in one transaction: the send loop's one write between two requests.
        A crash before its commit leaves both batches as they were (the first SENDING, to be
        counted on resume as it must be; the second CLAIMED, never sent)."""
        sent_ids, start_ids = list(sent), list(start)
        if self.dialect() == "postgresql" and sent_ids and start_ids:
            return self._sent_and_start_postgresql(run_id, sent_ids, message_id, start_ids)
        with self.sessions() as session, session.begin():
            connection = session.connection()
            sql = statements(connection.dialect.name)
            now = utcnow()
            if sent_ids:
                connection.execute(
                    sql.mark_sent,
                    {"run_id": run_id, "ids": sent_ids, "message_id": message_id, "now": now},
                )
            if not start_ids:
                return set()
            params = {"run_id": run_id, "owner": self.owner, "ids": start_ids}
            started = set(connection.execute(sql.start_sending, params).scalars().all())
            if len(started) < len(start_ids):  # as Claims.mark_in_flight
                connection.execute(sql.skip_gone, params)
            return started

    def _sent_and_start_postgresql(
        self, run_id: int, sent: list[int], message_id: str, start: list[int]
    ) -> set[int]:
        """The same in one statement, alone (pg.SENT_AND_START), which also renews the next
        batch's lease for its request, as ``mark_in_flight`` does."""
        now = utcnow()
        params = {
            "run_id": run_id,
            "owner": self.owner,
            "message_id": message_id,
            "now": now,
            "lease_until": now + self.leases.get(run_id, DEFAULT_LEASE),
            **pg.batch(sent, "sent_ids"),
            **pg.batch(start),
        }
        with self.alone() as connection:
            return set(connection.execute(pg.SENT_AND_START, params).scalars())

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
        ids = list(subscriber_ids)
        if not ids:
            return
        params = {"run_id": run_id, "ids": ids, "error": error[:2000]}
        if self.dialect() == "postgresql":
            with self.alone() as connection:
                connection.execute(pg.RELEASE, {**params, **pg.batch(ids)})
            return
        with self.sessions() as session, session.begin():
            connection = session.connection()
            connection.execute(statements(connection.dialect.name).release, params)

    def set_state(self, run_id: int, state: str, reason: str = "") -> None:
        with self.sessions() as session, session.begin():
            values: dict[str, Any] = {"state": state, "pause_reason": reason}
            if state == SendState.FINISHED:
                values["finished_at"] = utcnow()
            session.execute(update(CampaignRun).where(CampaignRun.id == run_id).values(**values))

    def pause(self, run_id: int, reason: str) -> None:
        """The run waits for a person (`mailer send` resumes it); ``reason`` says why."""
        self.set_state(run_id, SendState.PAUSED, reason)

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
