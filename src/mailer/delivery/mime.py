"""One recipient's message as RFC 5322 bytes: text/plain and text/html alternatives.

Used by the outbox and SMTP providers and by `mailer preview`, so what staff preview is
byte for byte what a subscriber gets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from mailer.delivery.types import MessageTemplate, Recipient, fill


def build_message(template: MessageTemplate, recipient: Recipient) -> EmailMessage:
    values = recipient.substitutions
    message = EmailMessage(policy=SMTP)
    message["Subject"] = fill(template.subject, values)
    message["From"] = _address(template.from_name, template.from_email)
    message["To"] = _address(recipient.name, recipient.email)
    if template.reply_to:
        message["Reply-To"] = template.reply_to
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = template.from_email.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message["MIME-Version"] = "1.0"
    for name, value in template.headers.items():
        message[name] = fill(value, values)
    message.set_content(fill(template.text, values), subtype="plain", charset="utf-8")
    message.add_alternative(fill(template.html, values), subtype="html", charset="utf-8")
    return message


def build_message_bytes(template: MessageTemplate, recipient: Recipient) -> bytes:
    return build_message(template, recipient).as_bytes()


def _address(name: str, email: str) -> str:
    if not name:
        return email
    local, _, domain = email.rpartition("@")
    return str(Address(display_name=name, username=local, domain=domain))
