"""Wiring for a send: workspace + campaign + render + provider + ledger, in one place.

`mailer send`, `mailer worker` and the scheduler all go through here; the delivery engine itself
only sees a Ledger and a Provider.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cached_property

from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.approval import (
    VerifiedCampaign,
    approval_holds,
    record_sent,
    verify_approved,
)
from mailer.campaigns.campaign import Campaign, load_campaign, resolve_campaign_path
from mailer.campaigns.personalize import recipient_substitutions
from mailer.campaigns.render import RenderedCampaign, render_campaign
from mailer.delivery.engine import OnBounced, Sender, SendOutcome
from mailer.delivery.ledger import ClaimedRecipient, Ledger, template_from_json
from mailer.delivery.providers import Provider, RecipientFailure, make_provider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.errors import ApprovalError
from mailer.events.ingest import RefusedAddress, record_smtp_bounces
from mailer.states import SendState
from mailer.store.models import CampaignRun
from mailer.subscribers.segments import audience_count
from mailer.subscribers.service import parse_address
from mailer.tokens import SecretKey, signing_key
from mailer.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRunSummary:
    subject: str
    audience: int
    provider: str
    html_bytes: int


def staff_copy_slug(slug: str) -> str:
    """What a `--test-to` copy is sent as: a "/" is never in a slug (a file name), so no run
    is ever named so; the outbox provider files these copies apart from the campaign's."""
    return f"{slug}/test"


def substitutions_for(
    workspace: Workspace, slug: str, key: SecretKey
) -> Callable[[ClaimedRecipient], dict[str, str]]:
    base_url = workspace.settings.web.base_url

    def values(person: ClaimedRecipient) -> dict[str, str]:
        return recipient_substitutions(
            key,
            campaign_slug=slug,
            base_url=base_url,
            subscriber_id=person.subscriber_id,
            first_name=person.first_name,
        )

    return values


@dataclass
class SendJob:
    workspace: Workspace
    sessions: sessionmaker[Session]
    campaign: Campaign

    @classmethod
    def open(cls, workspace: Workspace, sessions: sessionmaker[Session], name: str) -> SendJob:
        path = resolve_campaign_path(workspace.campaigns_dir, name)
        return cls(workspace, sessions, load_campaign(path))

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.sessions)

    @property
    def provider_name(self) -> str:
        return self.workspace.settings.delivery.provider

    @cached_property
    def rendered(self) -> RenderedCampaign:
        return render_campaign(self.workspace, self.campaign)

    def template(self) -> MessageTemplate:
        return self.rendered.message_template()

    def provider(self) -> Provider:
        return make_provider(self.workspace.settings, self.workspace.secrets, self.workspace.root)

    def audience_size(self) -> int:
        with self.sessions() as session:
            return audience_count(session, self.campaign.audience)

    def dry_run(self) -> DryRunSummary:
        template = self.template()
        return DryRunSummary(
            subject=template.subject,
            audience=self.audience_size(),
            provider=self.provider_name,
            html_bytes=len(template.html.encode()),
        )

    def send_test(self, address: str) -> None:
        """A staff copy with "[TEST]" in the subject; not recorded as a delivery, and never
        counted: its links carry the preview identity (they act on nobody, clicks are not
        recorded) and it goes out as ``staff_copy_slug`` (no campaign run has that name, so the
        provider's events about it count in no report)."""
        email = parse_address(address).email
        template = self.template()
        template = replace(
            template,
            subject=f"[TEST] {template.subject}",
            campaign_slug=staff_copy_slug(self.campaign.slug),
        )
        key = signing_key(self.workspace, "send")
        values = recipient_substitutions(
            key,
            campaign_slug=self.campaign.slug,
            base_url=self.workspace.settings.web.base_url,
            subscriber_id=None,
        )
        with self.provider() as provider:
            provider.send_batch(template, [Recipient(email=email, substitutions=values)])

    @cached_property
    def approved(self) -> VerifiedCampaign:
        """The campaign as approved, compiled; ApprovalError (and back to draft) if it changed."""
        return verify_approved(self.workspace, self.sessions, self.campaign)

    def start(self) -> tuple[CampaignRun, bool]:
        """The campaign's run: the existing one, else created from the approved campaign (the
        compiled message, its links and fingerprint stored, the audience fixed)."""
        signing_key(self.workspace, "send")  # refuse before fixing anything: links unsignable
        existing = self.ledger.find_run(self.campaign.slug)
        if existing is not None:
            return existing, False
        approved = self.approved
        links = [asdict(link) for link in approved.rendered.links]
        return self.ledger.start(
            self.campaign.slug,
            approved.rendered.message_template(),
            self.campaign.audience,
            links,
            fingerprint=approved.fingerprint,
        )

    def run(
        self,
        run: CampaignRun,
        *,
        on_progress: Callable[[SendOutcome], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> SendOutcome:
        return send_run(
            self.workspace, self.ledger, run, on_progress=on_progress, should_stop=should_stop
        )


def send_run(
    workspace: Workspace,
    ledger: Ledger,
    run: CampaignRun,
    *,
    on_progress: Callable[[SendOutcome], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SendOutcome:
    """Send (or resume) a run with the message stored when it started, never re-rendered.

    Before its first message, the run's approval must still be current (not revoked since the
    run started): otherwise the run is withdrawn and ApprovalError raised. When the run
    finishes, the campaign file says status: sent.
    """
    settings = workspace.settings
    key = signing_key(workspace, "send")
    if (
        run.fingerprint
        and ledger.nothing_sent(run.id)
        and not approval_holds(ledger.sessions, run.slug, run.fingerprint)
        and ledger.withdraw(run.id)  # False: another worker's first batch went out meanwhile
    ):
        raise ApprovalError(
            f"{run.slug!r}: its approval was revoked after its send started; nothing was sent "
            "and the send is withdrawn",
            hint=f"check and approve it again (mailer approve {run.slug}), then send it",
        )
    if run.state == SendState.PAUSED:
        ledger.set_state(run.id, SendState.SENDING)
    with make_provider(settings, workspace.secrets, workspace.root) as provider:
        sender = Sender(
            ledger,
            provider,
            substitutions_for(workspace, run.slug, key),
            batch_size=settings.delivery.batch_size,
            rate_per_second=settings.delivery.rate_per_second,
            on_progress=on_progress,
            should_stop=should_stop,
            on_bounced=_suppress_bounces(ledger, run.slug),
        )
        outcome = sender.run(run.id, template_from_json(run.template))
    if outcome.finished:
        finished = ledger.find_run(run.slug)
        if finished is not None and finished.id == run.id and finished.finished_at is not None:
            record_sent(workspace, run.slug, finished.finished_at)
    return outcome


def _suppress_bounces(ledger: Ledger, slug: str) -> OnBounced:
    """Addresses the SMTP server refused for good: bounced events, suppressed as SendGrid's."""

    def record(run_id: int, failures: list[RecipientFailure]) -> None:
        refused = [
            RefusedAddress(f.recipient.subscriber_id, f.recipient.email, f.code, f.reason)
            for f in failures
            if f.recipient.subscriber_id is not None
        ]
        record_smtp_bounces(ledger.sessions, run_id, slug, refused)

    return record


def work_on_active_runs(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> bool:
    """One pass of a worker over every sending campaign. True when it sent anything."""
    ledger = Ledger(sessions)
    worked = False
    for run in ledger.active_runs():
        if should_stop():
            break
        try:
            outcome = send_run(workspace, ledger, run, should_stop=should_stop)
        except ApprovalError as err:  # withdrawn: the other runs go on
            log.warning("%s", err.message)
            continue
        worked = worked or outcome.sent > 0 or outcome.failed > 0
    return worked
