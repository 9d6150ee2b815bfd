"""Short plain emails to the clinic's staff (organization.staff_emails): a draft waits, no issue
was approved for this week's slot, a slot was missed, a send could not start.

Sent through the configured provider (the outbox: outbox/staff-notice-<time>/). A notice
that cannot be sent is logged, never raised: the work it reports on has already happened.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from mailer.delivery.providers import make_provider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.workspace import Workspace

NOTICE_SLUG = "staff-notice"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeResult:
    sent_to: tuple[str, ...]
    error: str = ""


def notice_message(workspace: Workspace, subject: str, body: str) -> MessageTemplate:
    settings = workspace.settings
    name = settings.organization.name
    paragraphs = "".join(f"<p>{html.escape(part)}</p>" for part in body.split("\n\n") if part)
    # One slug per notice: the outbox keeps each notice instead of overwriting the last one.
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    return MessageTemplate(
        campaign_slug=f"{NOTICE_SLUG}-{stamp}",
        from_email=settings.sender.from_email,
        from_name=f"{name} newsletter" if name else "mailer",
        subject=f"[mailer] {subject}",
        html=f"<!doctype html><html><body>{paragraphs}</body></html>",
        text=body.rstrip() + "\n",
        categories=("staff-notice",),
    )


def notify_staff(workspace: Workspace, subject: str, body: str) -> NoticeResult:
    """Email every staff address; with none configured, the notice is only logged."""
    recipients = tuple(workspace.settings.organization.staff_emails)
    log.info("staff notice: %s", subject)
    if not recipients:
        return NoticeResult(sent_to=(), error="no organization.staff_emails configured")
    template = notice_message(workspace, subject, body)
    try:
        with make_provider(workspace.settings, workspace.secrets, workspace.root) as provider:
            result = provider.send_batch(template, [Recipient(email=a) for a in recipients])
    except Exception as err:  # a notice must never break the scheduler
        log.warning("staff notice %r not sent: %s", subject, type(err).__name__)
        return NoticeResult(sent_to=(), error=type(err).__name__)
    refused = {item.recipient.email for item in result.refused}
    return NoticeResult(sent_to=tuple(a for a in recipients if a not in refused))
