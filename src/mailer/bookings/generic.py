"""``POST /webhooks/booking``: any other booking tool, through a small documented body.

For a clinic's developer or an automation tool (Zapier, n8n, Make) forwarding bookings from any
system. Signed as Calendly signs: the ``Mailer-Webhook-Signature`` header is
``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with MAILER_BOOKING_WEBHOOK_SECRET.
The body (docs/bookings.md has copy-paste examples):

    {
      "event": "booking.created",          # or "booking.canceled" ("booking.cancelled" too)
      "external_id": "your-tool-id-123",   # required: the same id on the cancellation
      "email": "jane@example.com",         # the booker: used to attribute, never stored
      "booked_at": "2026-12-01T15:04:05Z", # when it was booked (default: when received)
      "event_name": "Free consultation",
      "utm_source": "newsletter",          # the booking page's utm_* parameters, as they came:
      "utm_medium": "email",               # utm_term holds mailer's click reference
      "utm_campaign": "2026-11-24-...",
      "utm_content": "cta-top",
      "utm_term": "...",
      "rescheduled_from": "old-id"         # optional: this booking replaces that one
    }

Unknown keys are ignored (a forwarder may send more than this); another ``event`` is
acknowledged (202) and ignored.
"""

from __future__ import annotations

from mailer.bookings.model import (
    MAX_EMAIL_CHARS,
    MAX_NAME_CHARS,
    BookingEvent,
    BookingSource,
    Ignored,
    Kind,
    PayloadError,
    load_object,
    obj,
    ref_candidates,
    required_text,
    text,
    timestamp,
    utm_params,
)
from mailer.bookings.signatures import verify_timestamped

NAME = "booking"
SIGNATURE_HEADER = "Mailer-Webhook-Signature"
KINDS = {
    "booking.created": Kind.CREATED,
    "booking.canceled": Kind.CANCELED,
    "booking.cancelled": Kind.CANCELED,
}


def parse(body: bytes) -> BookingEvent | Ignored:
    document = load_object(body)
    event_type = text(document, "event", where="", limit=100)
    if not event_type:
        raise PayloadError('event is missing (expected "booking.created" or "booking.canceled")')
    if event_type not in KINDS:
        return Ignored(event_type)
    params = utm_params(document, obj(document, "utm", where=""))
    rescheduled = document.get("rescheduled", False)
    if not isinstance(rescheduled, bool):
        raise PayloadError("rescheduled must be true or false")
    return BookingEvent(
        source=NAME,
        kind=KINDS[event_type],
        external_id=required_text(document, "external_id", where=""),
        email=text(document, "email", where="", limit=MAX_EMAIL_CHARS),
        booked_at=timestamp(document, "booked_at", where=""),
        event_name=text(document, "event_name", where="", limit=MAX_NAME_CHARS),
        params=params,
        candidates=ref_candidates(params),
        replaces=text(document, "rescheduled_from", where="", limit=2000).strip(),
        rescheduled=rescheduled and KINDS[event_type] == Kind.CANCELED,
    )


SOURCE = BookingSource(
    name=NAME,
    secret_variable="MAILER_BOOKING_WEBHOOK_SECRET",
    signature_header=SIGNATURE_HEADER,
    verify=verify_timestamped,
    parse=parse,
)
