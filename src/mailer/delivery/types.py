"""What the delivery pipeline hands a provider: a campaign compiled once, and recipients.

Per-recipient values travel as ``substitutions`` (placeholder -> value), e.g.
``{"%%first_name%%": "Maria", "%%unsubscribe_url%%": "https://…/u/TOKEN"}``. The placeholders
appear in ``subject``, ``html``, ``text`` and header values of the MessageTemplate. SendGrid
fills them itself (substitutions); SMTP and the outbox fill them while building each message.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MessageTemplate:
    campaign_slug: str
    from_email: str
    subject: str
    html: str
    text: str
    from_name: str = ""
    reply_to: str = ""
    # List-Unsubscribe, List-Unsubscribe-Post, List-Id...; values may hold placeholders.
    headers: dict[str, str] = field(default_factory=dict)
    campaign_id: int | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipient:
    email: str
    substitutions: dict[str, str] = field(default_factory=dict)
    name: str = ""
    subscriber_id: int | None = None


def fill(text: str, substitutions: dict[str, str]) -> str:
    """Replace each placeholder by its value. Cheap: no parsing, a few str.replace calls."""
    for placeholder, value in substitutions.items():
        if placeholder in text:
            text = text.replace(placeholder, value)
    return text
