"""The message every subscriber gets: From, Reply-To and the list headers of the Contract.

``List-Unsubscribe`` holds the per-recipient unsubscribe URL placeholder; RFC 8058's
``List-Unsubscribe-Post`` makes it one-click; ``List-Id`` (RFC 2919) names the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailer.campaigns.links import slugify
from mailer.campaigns.personalize import UNSUBSCRIBE_URL
from mailer.delivery.mime import build_message_bytes
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.tokens import SecretKey

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


def message_template(rendered: RenderedCampaign, campaign_id: int | None = None) -> MessageTemplate:
    settings = rendered.settings
    return MessageTemplate(
        campaign_slug=rendered.slug,
        campaign_id=campaign_id,
        from_email=settings.sender.from_email,
        from_name=settings.sender.from_name or settings.organization.name,
        reply_to=settings.sender.reply_to,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        headers=list_headers(settings.organization.name, settings.sender.from_email),
        categories=tuple(settings.sendgrid.categories),
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
