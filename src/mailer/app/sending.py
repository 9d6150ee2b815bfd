"""Wiring for a send: workspace + campaign + render + provider + ledger, in one place.

`mailer send`, `mailer worker` and the scheduler all go through here; the delivery engine itself
only sees a Ledger and a Provider. What `mailer send` decides before anyone is asked (finished,
a draft, resumable, new and approved as it stands) is ``SendJob.plan``; what it reports with
--json is a ``SendReport``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailer.app.mailing import send_message
from mailer.campaigns.approval import (
    VerifiedCampaign,
    approval_holds,
    record_sent,
    verify_approved,
)
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.check import check_campaign
from mailer.campaigns.files import CampaignFiles
from mailer.campaigns.message import staff_copy
from mailer.campaigns.personalize import recipient_substitutions, substitutions_maker
from mailer.campaigns.render import RenderedCampaign, render_campaign
from mailer.delivery.engine import OnBounced, Sender, SendOutcome
from mailer.delivery.ledger import ClaimedRecipient, Ledger, template_from_json
from mailer.delivery.providers import Provider, RecipientFailure, make_provider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.errors import ApprovalError, UsageError
from mailer.events.ingest import RefusedAddress, record_smtp_bounces
from mailer.states import SendState
from mailer.store.models import CampaignRun
from mailer.subscribers.segments import audience_count, audience_query
from mailer.subscribers.service import parse_address
from mailer.tokens import SecretKey, signing_key
from mailer.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRunSummary:
    """What `mailer send --dry-run` shows: who (how many, the first few addresses, the tags
    chosen) and what (subject, preheader, size, the check's verdict), nothing sent."""

    subject: str
    audience: int
    provider: str
    html_bytes: int
    preheader: str = ""
    tags: list[str] = field(default_factory=list)  # any of these (empty: everyone active)
    exclude_tags: list[str] = field(default_factory=list)
    first_addresses: list[str] = field(default_factory=list)  # by id, at most FIRST_FEW
    check: dict[str, Any] = field(default_factory=dict)  # ok, errors, warnings, findings


FIRST_FEW = 5  # addresses a dry run names: enough to see the audience is the one meant


@dataclass(frozen=True)
class SendPlan:
    """Where a campaign's send stands before anyone is asked to confirm it."""

    run: CampaignRun | None  # the campaign's delivery run, once its send has started
    draft: bool  # no run and the file says draft: it needs approving first

    @property
    def finished(self) -> bool:
        """Sent to everyone already: nothing is sent again."""
        return self.run is not None and self.run.state == SendState.FINISHED


@dataclass(frozen=True)
class SendReport:
    """What `mailer send --json` prints. outcome: test-sent, dry-run, already-finished, queued,
    finished, paused or stopped; counts are the ledger's (sent, failed, skipped, queued...)."""

    campaign: str
    outcome: str
    provider: str
    recipients: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    possible_duplicates: int = 0
    paused_reason: str | None = None
    dry_run: dict[str, Any] | None = None
    test_to: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def staff_copy_slug(slug: str) -> str:
    """What a `--test-to` copy is sent as: a "/" is never in a slug (a file name), so no run
    is ever named so; the outbox provider files these copies apart from the campaign's."""
    return f"{slug}/test"


def substitutions_for(
    workspace: Workspace, slug: str, key: SecretKey
) -> Callable[[ClaimedRecipient], dict[str, str]]:
    make = substitutions_maker(key, campaign_slug=slug, base_url=workspace.settings.web.base_url)

    def values(person: ClaimedRecipient) -> dict[str, str]:
        return make(person.subscriber_id, person.first_name)

    return values


@dataclass
class SendJob:
    workspace: Workspace
    sessions: sessionmaker[Session]
    campaign: Campaign

    @classmethod
    def open(
        cls,
        workspace: Workspace,
        sessions: sessionmaker[Session],
        name: str,
        *,
        prefix: bool = False,
    ) -> SendJob:
        """The job of campaign ``name`` (with ``prefix``: a unique beginning of a slug too,
        as a person types it; see CampaignFiles.resolve)."""
        return cls(workspace, sessions, CampaignFiles.of(workspace).load(name, prefix=prefix))

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
        audience = self.campaign.audience
        with self.sessions() as session:
            first = [s.email for s in session.scalars(audience_query(audience, limit=FIRST_FEW))]
        return DryRunSummary(
            subject=template.subject,
            audience=self.audience_size(),
            provider=self.provider_name,
            html_bytes=len(template.html.encode()),
            preheader=self.campaign.preheader,
            tags=list(audience.any_of),
            exclude_tags=list(audience.none_of),
            first_addresses=first,
            check=check_campaign(self.workspace, self.campaign, spam=False).as_dict(),
        )

    def send_test(self, address: str) -> None:
        """A staff copy with "[TEST]" in the subject; not recorded as a delivery, and never
        counted: its links carry the preview identity (they act on nobody, clicks are not
        recorded) and it goes out as ``staff_copy_slug`` (no campaign run has that name, so the
        provider's events about it count in no report). A failure or refusal is raised."""
        email = parse_address(address).email
        template = staff_copy(self.template(), self.campaign.slug)
        key = signing_key(self.workspace, "send")
        values = recipient_substitutions(
            key,
            campaign_slug=self.campaign.slug,
            base_url=self.workspace.settings.web.base_url,
            subscriber_id=None,
        )
        recipient = Recipient(email=email, substitutions=values)
        send_message(self.workspace, template, [recipient], raise_failure=True)

    def plan(self) -> SendPlan:
        """Finished, a draft, resumable or new. A new send must be approved as it stands now:
        one changed since approval is refused here (ApprovalError) and is a draft again. A
        started run sends what it stored, whatever the file says now."""
        run = self.ledger.find_run(self.campaign.slug)
        draft = run is None and self.campaign.status == "draft"
        if run is None and not draft:
            _ = self.approved
        return SendPlan(run, draft)

    def recipients(self, plan: SendPlan) -> int:
        """How many people the send goes to: the started run's, else the audience now."""
        return plan.run.recipients if plan.run is not None else self.audience_size()

    def done(self, run: CampaignRun) -> int:
        """Recipients the run has dealt with (sent, refused or skipped)."""
        counts = self.ledger.counts(run.id)
        return sum(n for key, n in counts.items() if key in {"sent", "failed", "skipped"})

    def report(self, outcome: str, run_id: int | None = None, **fields: Any) -> SendReport:
        """The --json report; with ``run_id``, the run's recipients and the ledger's counts."""
        if run_id is not None:
            run = self.ledger.get_run(run_id)
            fields.update(
                recipients=run.recipients,
                counts=self.ledger.counts(run_id),
                possible_duplicates=run.possible_duplicates,
            )
        return SendReport(self.campaign.slug, outcome, self.provider_name, **fields)

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
        if self.campaign.sequence:  # its run would hold the whole list: a welcome to everyone
            raise UsageError(
                f"{self.campaign.slug!r} is a step of the {self.campaign.sequence!r} series: it "
                "goes to each person when it is due for them, never to the whole list at once",
                hint="`mailer sequences run` sends the steps due now; `mailer send "
                f"{self.campaign.slug} --test-to you@clinic.example` sends a test copy",
            )
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
