"""Reading the ledger: runs by slug or id, the runs still sending, a run's counts per state."""

from __future__ import annotations

from sqlalchemy import func, select

from mailer.delivery.ledger.base import LedgerBase
from mailer.store.models import CampaignRun, Delivery, DeliveryState, SendState


class Queries(LedgerBase):
    def find_run(self, slug: str) -> CampaignRun | None:
        with self.sessions() as session:
            return session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()

    def get_run(self, run_id: int) -> CampaignRun:
        with self.sessions() as session:
            run = session.get(CampaignRun, run_id)
            assert run is not None
            return run

    def nothing_sent(self, run_id: int) -> bool:
        """True while no recipient of the run is in a request, sent or refused."""
        with self.sessions() as session:
            touched = session.scalar(
                select(Delivery.subscriber_id)
                .where(
                    Delivery.campaign_id == run_id,
                    Delivery.state.in_(DeliveryState.TOUCHED),
                )
                .limit(1)
            )
            return touched is None

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
