"""Wiring for a send: workspace + campaign + render + provider + ledger, in one place.

`mailer send`, `mailer worker` and the scheduler all go through here; the delivery engine itself
only sees a Ledger and a Provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cached_property

from sqlalchemy.orm import Session, sessionmaker

from mailer.compose.campaign import Campaign, load_campaign, resolve_campaign_path
from mailer.compose.personalize import recipient_substitutions
from mailer.compose.render import RenderedCampaign, render_campaign
from mailer.delivery.engine import OnBounced, Sender, SendOutcome
from mailer.delivery.ledger import ClaimedRecipient, Ledger, template_from_json
from mailer.delivery.providers import Provider, RecipientFailure, make_provider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.errors import ConfigError
from mailer.models import CampaignRun
from mailer.tracking import SecretKey
from mailer.workspace import Workspace


@dataclass(frozen=True)
class DryRunSummary:
    subject: str
    audience: int
    provider: str
    html_bytes: int


def signing_key(workspace: Workspace) -> SecretKey:
    """The key for subscriber links; the development key only ever goes to the local outbox."""
    key = SecretKey.for_workspace(workspace)
    if key.development and workspace.settings.delivery.provider != "outbox":
        raise ConfigError(
            "MAILER_SECRET_KEY is not set: unsubscribe and click links cannot be signed",
            hint="export MAILER_SECRET_KEY=\"$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')\" and keep it: changing it breaks old links",
        )
    return key


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
        from mailer.audience.segments import audience_count

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
        """A staff copy with "[TEST]" in the subject; not recorded as a delivery."""
        from mailer.audience.service import parse_address

        email = parse_address(address).email
        template = self.template()
        template = replace(template, subject=f"[TEST] {template.subject}")
        key = signing_key(self.workspace)
        values = substitutions_for(self.workspace, self.campaign.slug, key)(
            ClaimedRecipient(0, email, "", "")
        )
        with self.provider() as provider:
            provider.send_batch(template, [Recipient(email=email, substitutions=values)])

    def start(self) -> tuple[CampaignRun, bool]:
        """The campaign's run: created with its audience fixed, or the existing one."""
        signing_key(self.workspace)  # refuse before fixing anything if links cannot be signed
        existing = self.ledger.find_run(self.campaign.slug)
        if existing is not None:
            return existing, False
        links = [asdict(link) for link in self.rendered.links]
        return self.ledger.start(self.campaign.slug, self.template(), self.campaign.audience, links)

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
    """Send (or resume) a run with the message stored when it started."""
    from mailer.models import SendState

    settings = workspace.settings
    key = signing_key(workspace)
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
        return sender.run(run.id, template_from_json(run.template))


def _suppress_bounces(ledger: Ledger, slug: str) -> OnBounced:
    """Addresses the SMTP server refused for good: bounced events, suppressed as SendGrid's."""
    from mailer.events.ingest import RefusedAddress, record_smtp_bounces

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
        outcome = send_run(workspace, ledger, run, should_stop=should_stop)
        worked = worked or outcome.sent > 0 or outcome.failed > 0
    return worked
