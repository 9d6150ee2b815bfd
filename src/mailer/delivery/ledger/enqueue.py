"""Starting a run: the compiled message stored, the audience fixed in one INSERT ... SELECT
(never loaded in memory), one run per slug; and withdrawing a run that sent nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, func, literal, select
from sqlalchemy.exc import IntegrityError

from mailer.delivery.ledger.base import LedgerBase
from mailer.delivery.ledger.wakeup import announce
from mailer.delivery.types import MessageTemplate
from mailer.errors import SendConflictError
from mailer.store.models import CampaignRun, Delivery, DeliveryState, SendState, Subscriber
from mailer.subscribers.segments import Audience, audience_query


def template_to_json(template: MessageTemplate) -> dict[str, Any]:
    data = asdict(template)
    data["categories"] = list(template.categories)
    return data


def template_from_json(data: dict[str, Any]) -> MessageTemplate:
    values = dict(data)
    values["categories"] = tuple(values.get("categories", ()))
    return MessageTemplate(**values)


class Enqueue(LedgerBase):
    def start(
        self,
        slug: str,
        template: MessageTemplate,
        audience: Audience | None,
        links: Sequence[dict[str, Any]] = (),
        fingerprint: str = "",
    ) -> tuple[CampaignRun, bool]:
        """The campaign's run, created with its audience fixed if new. Returns (run, created).

        Two processes starting the same new campaign at once both find no run; the unique slug
        lets one insert it, and the other gets SendConflictError (never a second audience).
        """
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
                fingerprint=fingerprint,
            )
            session.add(run)
            try:
                session.flush()
            except IntegrityError as err:
                raise SendConflictError(
                    f"{slug!r} is already being sent by another process (it started the send "
                    "at the same moment); nothing was sent from here",
                    hint=f"`mailer report {slug}` shows its progress; `mailer send {slug}` "
                    "later resumes it if that process stops",
                ) from err
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
            announce(session.connection(), run.id)  # idle workers wake when this commits
            return run, True

    def withdraw(self, run_id: int) -> bool:
        """Delete a run (and its queue) that has sent nothing; False if anything went out."""
        with self.sessions() as session, session.begin():
            touched = (
                select(Delivery.subscriber_id)
                .where(
                    Delivery.campaign_id == run_id,
                    Delivery.state.in_(DeliveryState.TOUCHED),
                )
                .exists()
            )
            result = session.execute(
                delete(CampaignRun)
                .where(CampaignRun.id == run_id, ~touched)
                .execution_options(synchronize_session=False)
            )
            withdrawn = bool(result.rowcount)  # type: ignore[attr-defined]
            if withdrawn:  # the cascade does this where foreign keys are enforced; be sure
                session.execute(delete(Delivery).where(Delivery.campaign_id == run_id))
            return withdrawn
