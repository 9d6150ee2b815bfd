"""A campaign exactly as a subscriber gets it, for people to look at: `mailer preview` (and the
staff pages). Built the way delivery builds it, with preview links that act on nobody.

The sample subscriber is the first active one on the list, else Alex Sample, also when the
database cannot be reached: a preview never needs the database to be up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy

from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.check import _parts
from mailer.campaigns.message import ALEX_SAMPLE, SampleRecipient, message_bytes
from mailer.campaigns.render import render_campaign
from mailer.errors import StorageError
from mailer.subscribers.segments import audience_query
from mailer.tokens import signing_key
from mailer.workspace import Workspace


@dataclass(frozen=True)
class Preview:
    """The three forms of one person's email; ``development_key``: its links are signed with
    the public development key (MAILER_SECRET_KEY unset), fine for looking, never for sending."""

    person: SampleRecipient
    html: str  # line ends as in a file ("\n"), not as on the wire
    text: str
    eml: bytes
    development_key: bool


def preview_campaign(
    workspace: Workspace, database: Callable[[], sessionmaker[Session]], campaign: Campaign
) -> Preview:
    """``database`` opens the database when the sample subscriber is looked up."""
    rendered = render_campaign(workspace, campaign)
    person = sample_person(database)
    key = signing_key(workspace, "preview")
    eml = message_bytes(rendered, key, person)
    html, text = _parts(message_from_bytes(eml, policy=default_policy))
    return Preview(
        person, html.replace("\r\n", "\n"), text.replace("\r\n", "\n"), eml, key.development
    )


def sample_person(database: Callable[[], sessionmaker[Session]]) -> SampleRecipient:
    """The first active subscriber, else Alex Sample (also when the database is unavailable)."""
    try:
        with database()() as session:
            row = session.scalars(audience_query(limit=1)).first()
    except StorageError:
        return ALEX_SAMPLE
    if row is None:
        return ALEX_SAMPLE
    return SampleRecipient(row.email, row.first_name or "", row.last_name or "")
