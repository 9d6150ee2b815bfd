"""A campaign as a subscriber gets it, compiled without saving anything: `mailer preview` and
the staff page's live preview.

The same compile as a send: campaigns/check.py renders the campaign (campaigns/render.py, the
compile approval fingerprints and a send stores), builds the message one sample person gets with
delivery's MIME code (campaigns/message.py) and inspects it. The preview is that message's HTML
part, so what staff look at is what the check looked at and what a mail program shows. Links in
it are preview links: they act on nobody and clicks on them are not counted.

The sample person is the first active subscriber, else Alex Sample; no subscriber id is ever put
in a preview. A compile of a five-article digest takes about 2-4 ms (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.check import CheckResult, _parts, check_campaign
from mailer.campaigns.message import ALEX_SAMPLE, SampleRecipient, message_bytes
from mailer.campaigns.render import render_campaign
from mailer.errors import StorageError
from mailer.store.models import Subscriber, SubscriberStatus
from mailer.tokens import signing_key
from mailer.workspace import Workspace


@dataclass(frozen=True)
class Preview:
    """The message one sample person gets, and the check's findings about it."""

    subject: str  # as the Subject header says it
    html: str  # the HTML part ("" when the campaign does not compile: see check)
    text: str  # the plain-text part
    eml: bytes
    check: CheckResult
    person: SampleRecipient

    @property
    def compiled(self) -> bool:
        return self.check.rendered is not None


def sample_person(sessions: sessionmaker[Session]) -> SampleRecipient:
    """The first active subscriber, else Alex Sample (also when the database is unavailable)."""
    try:
        with sessions() as session:
            row = session.scalars(
                select(Subscriber)
                .where(Subscriber.status == SubscriberStatus.ACTIVE)
                .order_by(Subscriber.id)
                .limit(1)
            ).first()
    except (SQLAlchemyError, StorageError):
        return ALEX_SAMPLE
    if row is None:
        return ALEX_SAMPLE
    return SampleRecipient(row.email, row.first_name or "", row.last_name or "")


def compile_preview(
    workspace: Workspace, campaign: Campaign, person: SampleRecipient = ALEX_SAMPLE
) -> Preview:
    """Compile, fill for ``person`` and check ``campaign`` as it is in memory (saved or not).
    Never raises for a problem in the campaign: a template error is a finding, html is ""."""
    result = check_campaign(workspace, campaign, person=person, spam=False)
    if result.eml is None:
        return Preview(campaign.subject, "", "", b"", result, person)
    # As `mailer preview` writes them: the parts as a mail program shows them, LF line ends.
    return Preview(
        result.subject,
        result.html.replace("\r\n", "\n"),
        result.text.replace("\r\n", "\n"),
        result.eml,
        result,
        person,
    )


@dataclass(frozen=True)
class PreviewFiles:
    """`mailer preview`'s three forms of one person's email; ``development_key``: its links are
    signed with the public development key (MAILER_SECRET_KEY unset), fine for looking, never
    for sending."""

    person: SampleRecipient
    html: str  # line ends as in a file ("\n"), not as on the wire
    text: str
    eml: bytes
    development_key: bool


def preview_campaign(
    workspace: Workspace, database: Callable[[], sessionmaker[Session]], campaign: Campaign
) -> PreviewFiles:
    """`mailer preview`: ``database`` opens the database when the sample subscriber is looked
    up; a database that cannot be opened gives Alex Sample (a preview never needs it up)."""
    rendered = render_campaign(workspace, campaign)
    try:
        person = sample_person(database())
    except StorageError:
        person = ALEX_SAMPLE
    key = signing_key(workspace, "preview")
    eml = message_bytes(rendered, key, person)
    html, text = _parts(message_from_bytes(eml, policy=default_policy))
    return PreviewFiles(
        person, html.replace("\r\n", "\n"), text.replace("\r\n", "\n"), eml, key.development
    )
