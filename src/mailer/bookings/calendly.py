"""Calendly's webhook: ``invitee.created`` and ``invitee.canceled``, verified, then parsed.

Calendly signs each request with the subscription's signing key: the ``Calendly-Webhook-Signature``
header is ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` (signatures.py). The body is
``{"event": ..., "created_at": ..., "payload": <the invitee>}``; of the invitee we read only:

    uri                     the invitee's id: a retry of the same invitee is stored once
    email                   to find a subscriber who clicked lately (never stored)
    created_at              when the booking was made
    scheduled_event.name    the event type's name ("Free consultation")
    tracking.utm_*          the utm_* parameters of the booking page's address, which Calendly
                            keeps: utm_term carries mailer's click reference
    old_invitee             on the new invitee of a reschedule: the one it replaces
    rescheduled             on invitee.canceled: true when it is half of a reschedule

Nothing else (names, questions and answers, payment, location) is read or kept. Other event
types (routing forms, no-shows...) are acknowledged and ignored.
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

NAME = "calendly"
SIGNATURE_HEADER = "Calendly-Webhook-Signature"
KINDS = {"invitee.created": Kind.CREATED, "invitee.canceled": Kind.CANCELED}


def parse(body: bytes) -> BookingEvent | Ignored:
    document = load_object(body)
    event_type = text(document, "event", where="", limit=100)
    if not event_type:
        raise PayloadError("event is missing (expected invitee.created or invitee.canceled)")
    if event_type not in KINDS:
        return Ignored(event_type)
    invitee = obj(document, "payload", where="")
    if not invitee:
        raise PayloadError("payload is missing (the invitee)")
    where = "payload."
    scheduled = obj(invitee, "scheduled_event", where=where)
    params = utm_params(obj(invitee, "tracking", where=where))
    rescheduled = invitee.get("rescheduled")
    if rescheduled is not None and not isinstance(rescheduled, bool):
        raise PayloadError("payload.rescheduled must be true or false")
    return BookingEvent(
        source=NAME,
        kind=KINDS[event_type],
        external_id=required_text(invitee, "uri", where=where),
        email=text(invitee, "email", where=where, limit=MAX_EMAIL_CHARS),
        booked_at=timestamp(invitee, "created_at", where=where)
        or timestamp(document, "created_at", where=""),
        event_name=text(scheduled, "name", where=f"{where}scheduled_event.", limit=MAX_NAME_CHARS),
        params=params,
        candidates=ref_candidates(params),
        replaces=text(invitee, "old_invitee", where=where, limit=2000).strip(),
        rescheduled=bool(rescheduled) and KINDS[event_type] == Kind.CANCELED,
    )


SOURCE = BookingSource(
    name=NAME,
    secret_variable="MAILER_CALENDLY_SIGNING_KEY",
    signature_header=SIGNATURE_HEADER,
    verify=verify_timestamped,
    parse=parse,
)
