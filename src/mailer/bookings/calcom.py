"""Cal.com's webhook: ``BOOKING_CREATED``, ``BOOKING_RESCHEDULED``, ``BOOKING_CANCELLED``.

Cal.com signs the raw body with the webhook's secret: ``X-Cal-Signature-256`` is its hex
HMAC-SHA256 (no time in it: see signatures.py). The body is
``{"triggerEvent": ..., "createdAt": ..., "payload": <the booking>}``; of the booking we read:

    uid                     the booking's id (a reschedule makes a new booking with a new uid)
    rescheduleUid           on BOOKING_RESCHEDULED: the uid of the booking it replaces
    attendees[0].email      the booker (else responses.email.value), to attribute; not stored
    eventTitle / type       the event type's name
    metadata                the booking link's ``metadata[key]=value`` parameters, which Cal.com
                            hands back as they were: the /c/ redirect adds
                            ``metadata[utm_term]=<click reference>`` (and utm_campaign,
                            utm_content) to cal.com booking links
    responses.utm_*.value   hidden booking questions named utm_campaign, utm_content, utm_term,
                            filled from the same-named parameters of the link (the way for a
                            self-hosted Cal.com, see docs/bookings.md)
    tracking / utm          utm_* objects, should a version of Cal.com send them

No other answer to the booking form is read or kept. Other triggers (MEETING_ENDED, PING...)
are acknowledged and ignored.
"""

from __future__ import annotations

from typing import Any

from mailer.bookings.model import (
    MAX_EMAIL_CHARS,
    MAX_NAME_CHARS,
    UTM_KEYS,
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
from mailer.bookings.signatures import verify_hex

NAME = "calcom"
SIGNATURE_HEADER = "X-Cal-Signature-256"
KINDS = {
    "BOOKING_CREATED": Kind.CREATED,
    "BOOKING_RESCHEDULED": Kind.CREATED,
    "BOOKING_CANCELLED": Kind.CANCELED,
}


def _answers(responses: dict[str, Any]) -> dict[str, Any]:
    """The utm_* hidden questions' values (only those: other answers are never read)."""
    found: dict[str, Any] = {}
    for key in UTM_KEYS:
        answer = responses.get(key)
        if isinstance(answer, dict):
            found[key] = answer.get("value")
        elif isinstance(answer, str):
            found[key] = answer
    return found


def _email(booking: dict[str, Any]) -> str:
    attendees = booking.get("attendees")
    if attendees is not None and not isinstance(attendees, list):
        raise PayloadError("payload.attendees must be a list")
    if attendees and isinstance(attendees[0], dict):
        found = text(attendees[0], "email", where="payload.attendees[0].", limit=MAX_EMAIL_CHARS)
        if found:
            return found
    responses = obj(booking, "responses", where="payload.")
    answer = responses.get("email")
    if isinstance(answer, dict):
        return text(answer, "value", where="payload.responses.email.", limit=MAX_EMAIL_CHARS)
    return ""


def parse(body: bytes) -> BookingEvent | Ignored:
    document = load_object(body)
    trigger = text(document, "triggerEvent", where="", limit=100)
    if not trigger:
        raise PayloadError("triggerEvent is missing (expected BOOKING_CREATED and the like)")
    if trigger not in KINDS:
        return Ignored(trigger)
    booking = obj(document, "payload", where="")
    if not booking:
        raise PayloadError("payload is missing (the booking)")
    where = "payload."
    metadata = obj(booking, "metadata", where=where)
    params = utm_params(
        metadata,
        _answers(obj(booking, "responses", where=where)),
        obj(booking, "tracking", where=where),
        obj(booking, "utm", where=where),
    )
    name = text(booking, "eventTitle", where=where, limit=MAX_NAME_CHARS) or text(
        booking, "type", where=where, limit=MAX_NAME_CHARS
    )
    replaces = ""
    if trigger == "BOOKING_RESCHEDULED":
        replaces = text(booking, "rescheduleUid", where=where, limit=2000).strip()
    return BookingEvent(
        source=NAME,
        kind=KINDS[trigger],
        external_id=required_text(booking, "uid", where=where),
        email=_email(booking),
        booked_at=timestamp(document, "createdAt", where=""),
        event_name=name,
        params=params,
        candidates=ref_candidates(params),
        replaces=replaces,
    )


SOURCE = BookingSource(
    name=NAME,
    secret_variable="MAILER_CALCOM_WEBHOOK_SECRET",
    signature_header=SIGNATURE_HEADER,
    verify=verify_hex,
    parse=parse,
)
