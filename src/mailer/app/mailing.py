"""Send one message now, through the configured provider, and log how it went.

The one way mailer sends a single message outside a campaign run: the signup confirmation and
welcome (mailer.web.signup), staff notices (the scheduler, the feed poll), and a staff member's
test copy. The envelope comes from mailer.campaigns.message; this module only sends.

Invariants:

- **Never raises** for a provider or configuration failure: the work the message reports on
  (a stored signup, a slot that ran) has already happened, so a failed send is logged and
  returned in the result, and the caller goes on. (Unless the caller asks, for a test copy
  whose sender waits for the answer: ``raise_failure``.)
- **Logs no address**: a subscriber is named by id, staff by their number; only the provider's
  error class is logged (its message may quote an address).
- No retry: a campaign run has the ledger for that; a signup can be asked again, and a notice
  that matters is sent again by the next slot or poll that finds the same state.

A domain module that must send (the feed poll's notices) takes :func:`notify_staff` as an
argument rather than importing this use case (the layers point down only).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mailer.campaigns.message import NOTICE_SLUG, staff_notice
from mailer.delivery.providers import make_provider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.errors import DeliveryError
from mailer.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailResult:
    """What became of one message: who the provider accepted it for, or why not."""

    message: str  # the template's slug: signup-confirm, welcome, staff-notice-..., <slug>/test
    sent_to: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # addresses the provider refused
    error: str = ""  # why nothing was sent: the error's class, or a missing setting

    @property
    def sent(self) -> bool:
        return bool(self.sent_to)

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "sent": self.sent,
            "sent_to": list(self.sent_to),
            "refused": list(self.refused),
            "error": self.error or None,
        }


def send_message(
    workspace: Workspace,
    template: MessageTemplate,
    recipients: Sequence[Recipient],
    *,
    raise_failure: bool = False,
) -> MailResult:
    """Send ``template`` to ``recipients`` (one provider batch) and log the outcome.

    ``raise_failure``: for a person waiting on the answer (a test copy they asked for): the
    failure is logged and raised too (the provider's error; a refused address as
    DeliveryError), so they see why.
    """
    slug = template.campaign_slug
    addresses = tuple(person.email for person in recipients)
    try:
        with make_provider(workspace.settings, workspace.secrets, workspace.root) as provider:
            result = provider.send_batch(template, list(recipients))
    except Exception as err:  # any provider or configuration failure: see the docstring
        log.warning("%s email to %s not sent: %s", slug, _who(recipients), type(err).__name__)
        if raise_failure:
            raise
        return MailResult(slug, error=type(err).__name__)
    refused_emails = {item.recipient.email for item in result.refused}
    if refused_emails:
        refused = [person for person in recipients if person.email in refused_emails]
        log.warning("%s email to %s refused by the provider", slug, _who(refused))
        if raise_failure:
            reasons = "; ".join(f"{f.recipient.email}: {f.reason}" for f in result.refused)
            raise DeliveryError(
                f"the provider refused the message ({reasons})",
                hint="check the address; the provider's reason is quoted",
            )
    return MailResult(
        slug,
        sent_to=tuple(a for a in addresses if a not in refused_emails),
        refused=tuple(a for a in addresses if a in refused_emails),
    )


def notify_staff(workspace: Workspace, subject: str, body: str) -> MailResult:
    """Email every staff address (organization.staff_emails) a short notice; with none
    configured, the notice is only logged."""
    recipients = tuple(workspace.settings.organization.staff_emails)
    log.info("staff notice: %s", subject)
    if not recipients:
        return MailResult(NOTICE_SLUG, error="no organization.staff_emails configured")
    template = staff_notice(workspace.settings, subject, body)
    return send_message(workspace, template, [Recipient(email=a) for a in recipients])


def _who(recipients: Sequence[Recipient]) -> str:
    """Recipients without their addresses: subscriber ids, else how many addresses."""
    ids = [str(person.subscriber_id) for person in recipients if person.subscriber_id is not None]
    if ids and len(ids) == len(recipients):
        return ("subscriber " if len(ids) == 1 else "subscribers ") + ", ".join(ids)
    return f"{len(recipients)} address" + ("" if len(recipients) == 1 else "es")
