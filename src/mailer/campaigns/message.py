"""Every envelope mailer sends: the one owner of From, Reply-To, the list headers and categories.

Three kinds of message, each built here and nowhere else:

- **the campaign** (:func:`message_template`; a staff member's :func:`staff_copy` of it) and
  **the signup emails** (:func:`signup_message`:
  the confirmation and the welcome) go to a subscriber: From and Reply-To from the
  configuration and the list headers of the Contract. ``List-Unsubscribe`` holds the
  per-recipient unsubscribe URL placeholder; RFC 8058's ``List-Unsubscribe-Post`` makes it
  one-click; ``List-Id`` (RFC 2919) names the list.
- **a staff notice** (:func:`staff_notice`) goes to the clinic's own staff: From the sender
  address as "<clinic> newsletter", no Reply-To and no list headers (it is not list mail, and
  staff cannot unsubscribe from their own alerts), category ``staff-notice``.

Sending is not done here: :mod:`mailer.app.mailing` sends one message, the delivery engine a
campaign.
"""

from __future__ import annotations

import html as html_lib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailer.campaigns.links import slugify
from mailer.campaigns.personalize import UNSUBSCRIBE_URL, clean_first_name
from mailer.config import Settings
from mailer.delivery.mime import build_message_bytes
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.subscribers.signup import Person
from mailer.templating import render_template, sandboxed_environment
from mailer.tokens import SecretKey
from mailer.workspace import skeleton_dir

if TYPE_CHECKING:
    from mailer.campaigns.render import RenderedCampaign


def list_id(organization_name: str, from_email: str) -> str:
    """``"Summit Upper Cervical" <summit-upper-cervical.summitspine.example>``."""
    domain = from_email.rpartition("@")[2].lower() or "localhost"
    label = slugify(organization_name, max_length=60) or "newsletter"
    quoted = organization_name.replace("\\", "").replace('"', "")
    return f'"{quoted}" <{label}.{domain}>'


def list_headers(organization_name: str, from_email: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{UNSUBSCRIBE_URL}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id(organization_name, from_email),
    }


def to_subscribers(
    settings: Settings,
    *,
    slug: str,
    subject: str,
    html: str,
    text: str,
    categories: tuple[str, ...],
    campaign_id: int | None = None,
) -> MessageTemplate:
    """The envelope of every message to a subscriber (campaign or signup email)."""
    return MessageTemplate(
        campaign_slug=slug,
        campaign_id=campaign_id,
        from_email=settings.sender.from_email,
        from_name=settings.sender.from_name or settings.organization.name,
        reply_to=settings.sender.reply_to,
        subject=subject,
        html=html,
        text=text,
        headers=list_headers(settings.organization.name, settings.sender.from_email),
        categories=categories,
    )


def message_template(rendered: RenderedCampaign, campaign_id: int | None = None) -> MessageTemplate:
    """The campaign's message, compiled once, placeholders left in for each recipient."""
    settings = rendered.settings
    return to_subscribers(
        settings,
        slug=rendered.slug,
        campaign_id=campaign_id,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        categories=tuple(settings.sendgrid.categories),
    )


def staff_copy_slug(slug: str) -> str:
    """What a test copy is sent as: a "/" is never in a slug (a file name), so no run is ever
    named so; the outbox provider files these copies apart from the campaign's."""
    return f"{slug}/test"


def staff_copy(template: MessageTemplate, slug: str) -> MessageTemplate:
    """A staff member's copy of the campaign ``slug``: "[TEST]" before the subject, sent as
    :func:`staff_copy_slug` (so the provider's events about it count in no report)."""
    return replace(
        template, subject=f"[TEST] {template.subject}", campaign_slug=staff_copy_slug(slug)
    )


# -- signup emails ------------------------------------------------------------------------------

CONFIRM_SLUG = "signup-confirm"
WELCOME_SLUG = "welcome"
SIGNUP_SLUGS = {"confirm": CONFIRM_SLUG, "welcome": WELCOME_SLUG}
_SIGNUP_NAMES = (
    "organization, booking, first_name, unsubscribe_url, subject, confirm_url (confirm), "
)
_SIGNUP_NAMES += "booking_url (welcome)"


def signup_message(
    settings: Settings,
    templates_dir: Path,
    kind: str,
    person: Person,
    *,
    subject: str,
    unsubscribe_url: str,
    **values: Any,
) -> tuple[MessageTemplate, Recipient]:
    """One person's confirmation (``kind`` "confirm") or welcome ("welcome") email.

    From ``templates/<kind>.txt.j2`` and ``<kind>.html.j2`` in the workspace, else the shipped
    ones (older workspaces lack them), in the sandbox; strict, and not trimmed (the shipped
    templates are written without it). A mistake in them is a TemplateError naming file:line.
    """
    context = {
        "organization": settings.organization,
        "booking": settings.booking,
        "first_name": clean_first_name(person.first_name),
        "unsubscribe_url": unsubscribe_url,
        "subject": subject,
        **values,
    }
    environment = sandboxed_environment(
        [templates_dir, skeleton_dir() / "templates"], strict=True, trim_blocks=False
    )
    text = render_template(
        environment, templates_dir, f"{kind}.txt.j2", context, names=_SIGNUP_NAMES
    )
    html = render_template(
        environment, templates_dir, f"{kind}.html.j2", context, names=_SIGNUP_NAMES
    )
    template = to_subscribers(
        settings,
        slug=SIGNUP_SLUGS[kind],
        subject=subject,
        html=html,
        text=text,
        categories=("signup",),
    )
    recipient = Recipient(
        email=person.email,
        name=person.first_name,
        subscriber_id=person.subscriber_id,
        substitutions={UNSUBSCRIBE_URL: unsubscribe_url},
    )
    return template, recipient


# -- staff notices ------------------------------------------------------------------------------

NOTICE_SLUG = "staff-notice"


def staff_notice(
    settings: Settings, subject: str, body: str, *, now: datetime | None = None
) -> MessageTemplate:
    """A short plain email to staff: ``body``'s paragraphs (blank-line separated) as text and
    as escaped HTML paragraphs, subject prefixed "[mailer]"."""
    name = settings.organization.name
    paragraphs = "".join(f"<p>{html_lib.escape(part)}</p>" for part in body.split("\n\n") if part)
    # One slug per notice: the outbox keeps each notice instead of overwriting the last one.
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S-%f")
    return MessageTemplate(
        campaign_slug=f"{NOTICE_SLUG}-{stamp}",
        from_email=settings.sender.from_email,
        from_name=f"{name} newsletter" if name else "mailer",
        subject=f"[mailer] {subject}",
        html=f"<!doctype html><html><body>{paragraphs}</body></html>",
        text=body.rstrip() + "\n",
        categories=(NOTICE_SLUG,),
    )


@dataclass(frozen=True)
class SampleRecipient:
    """Who a preview or check is made for: a real subscriber's name and address, or Alex
    Sample. No subscriber id: a preview's links carry the preview identity and act on nobody,
    whoever it shows."""

    email: str
    first_name: str = ""
    last_name: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


ALEX_SAMPLE = SampleRecipient("alex@example.com", "Alex", "Sample")


def recipient_for(
    rendered: RenderedCampaign, key: SecretKey | str | bytes, person: SampleRecipient
) -> Recipient:
    return Recipient(
        email=person.email,
        name=person.name,
        substitutions=rendered.substitutions(key, None, person.first_name),
    )


def message_bytes(
    rendered: RenderedCampaign, key: SecretKey | str | bytes, person: SampleRecipient
) -> bytes:
    """The .eml one person gets, built exactly as delivery builds it, with preview links."""
    return build_message_bytes(message_template(rendered), recipient_for(rendered, key, person))
