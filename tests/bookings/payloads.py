"""Webhook bodies shaped as Calendly's and Cal.com's documentation shows them (our own values),
mailer's generic body, and their signatures computed here with hmac (not with mailer's code).

Calendly: ``{"created_at", "created_by", "event", "payload": <invitee>}``, the invitee with its
``uri``, ``email``, ``tracking`` (utm_* and salesforce_uuid), ``scheduled_event``,
``questions_and_answers``, ``old_invitee``/``new_invitee``, ``rescheduled``; signed
``Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>``.
Cal.com: ``{"triggerEvent", "createdAt", "payload": <booking>}``, the booking with ``uid``,
``attendees``, ``responses``, ``metadata``, ``rescheduleUid``...; signed
``X-Cal-Signature-256: <hex HMAC-SHA256(body)>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

CALENDLY_KEY = "calendly-signing-key-for-tests-7f3a"
CALCOM_KEY = "calcom-webhook-secret-for-tests-91c2"
BOOKING_KEY = "booking-webhook-secret-for-tests-5d8e"
ORG = "https://api.calendly.com/organizations/ORGTEST0000000001"


def _iso(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def calendly(
    event: str = "invitee.created",
    invitee: str = "INV0000000000001",
    email: str = "ana@example.com",
    tracking: dict[str, str | None] | None = None,
    *,
    old_invitee: str | None = None,
    new_invitee: str | None = None,
    rescheduled: bool = False,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """An invitee.created / invitee.canceled delivery as Calendly's docs show it."""
    scheduled = "https://api.calendly.com/scheduled_events/EVT0000000000001"
    uri = f"{scheduled}/invitees/{invitee}"
    utm = {
        "utm_campaign": None,
        "utm_source": None,
        "utm_medium": None,
        "utm_content": None,
        "utm_term": None,
        "salesforce_uuid": None,
    }
    utm.update(tracking or {})
    payload: dict[str, Any] = {
        "cancel_url": f"https://calendly.com/cancellations/{invitee}",
        "created_at": _iso(created_at),
        "email": email,
        "event": scheduled,
        "first_name": "Ana",
        "last_name": "Reader",
        "name": "Ana Reader",
        "new_invitee": f"{scheduled}/invitees/{new_invitee}" if new_invitee else None,
        "old_invitee": f"{scheduled}/invitees/{old_invitee}" if old_invitee else None,
        "questions_and_answers": [
            {
                "answer": "Headaches every morning for two weeks",
                "position": 0,
                "question": "What brings you in?",
            }
        ],
        "reschedule_url": f"https://calendly.com/reschedulings/{invitee}",
        "rescheduled": rescheduled,
        "routing_form_submission": None,
        "scheduled_event": {
            "uri": scheduled,
            "name": "Free consultation",
            "status": "active",
            "start_time": "2026-12-08T16:00:00.000000Z",
            "end_time": "2026-12-08T16:30:00.000000Z",
            "event_type": "https://api.calendly.com/event_types/ETYPE00000000001",
            "location": {"type": "physical", "location": "1200 Pearl Street, Suite 4"},
            "invitees_counter": {"total": 1, "active": 1, "limit": 1},
            "created_at": _iso(created_at),
            "updated_at": _iso(created_at),
            "event_memberships": [{"user": "https://api.calendly.com/users/USR0000000000001"}],
            "event_guests": [],
        },
        "status": "canceled" if event == "invitee.canceled" else "active",
        "text_reminder_number": None,
        "timezone": "America/Denver",
        "tracking": utm,
        "updated_at": _iso(created_at),
        "uri": uri,
        "no_show": None,
        "payment": None,
        "reconfirmation": None,
    }
    if event == "invitee.canceled":
        payload["cancellation"] = {
            "canceled_by": "Ana Reader",
            "reason": "Something came up",
            "canceler_type": "invitee",
            "created_at": _iso(),
        }
    return {
        "created_at": _iso(),
        "created_by": "https://api.calendly.com/users/USR0000000000001",
        "event": event,
        "payload": payload,
    }


def calcom(
    trigger: str = "BOOKING_CREATED",
    uid: str = "bFJeNb2uX8ANpT3JL5EfXw",
    email: str = "ana@example.com",
    metadata: dict[str, Any] | None = None,
    *,
    responses: dict[str, Any] | None = None,
    reschedule_uid: str | None = None,
) -> dict[str, Any]:
    """A Cal.com delivery as its docs show one (webhook version 2021-10-20)."""
    booking: dict[str, Any] = {
        "bookerUrl": "https://cal.com",
        "type": "free-consultation",
        "title": "Free consultation between Summit Spine and Ana Reader",
        "description": "",
        "additionalNotes": "My neck hurts after sleeping",
        "customInputs": {},
        "startTime": "2026-12-08T16:00:00Z",
        "endTime": "2026-12-08T16:30:00Z",
        "organizer": {
            "id": 5,
            "name": "Summit Spine",
            "email": "frontdesk@summitspine.example",
            "username": "summitspine",
            "timeZone": "America/Denver",
            "language": {"locale": "en"},
            "timeFormat": "h:mma",
        },
        "responses": {
            "name": {"label": "your_name", "value": "Ana Reader", "isHidden": False},
            "email": {"label": "email_address", "value": email, "isHidden": False},
            "notes": {
                "label": "additional_notes",
                "value": "My neck hurts after sleeping",
                "isHidden": False,
            },
            "guests": {"label": "additional_guests", "value": [], "isHidden": False},
            **(responses or {}),
        },
        "userFieldsResponses": {},
        "attendees": [
            {
                "email": email,
                "name": "Ana Reader",
                "firstName": "Ana",
                "lastName": "Reader",
                "timeZone": "America/Denver",
                "language": {"locale": "en"},
                "utcOffset": -420,
            }
        ],
        "location": "1200 Pearl Street, Suite 4",
        "destinationCalendar": None,
        "hideCalendarNotes": False,
        "requiresConfirmation": False,
        "eventTypeId": 7,
        "seatsShowAttendees": True,
        "seatsPerTimeSlot": None,
        "uid": uid,
        "iCalUID": f"{uid}@Cal.com",
        "iCalSequence": 0,
        "appsStatus": [],
        "eventTitle": "Free consultation",
        "eventDescription": "",
        "price": 0,
        "currency": "usd",
        "length": 30,
        "bookingId": 91,
        "metadata": metadata or {},
        "status": "CANCELLED" if trigger == "BOOKING_CANCELLED" else "ACCEPTED",
    }
    if reschedule_uid:
        booking["rescheduleUid"] = reschedule_uid
        booking["rescheduleId"] = 90
        booking["rescheduleStartTime"] = "2026-12-07T16:00:00Z"
    if trigger == "BOOKING_CANCELLED":
        booking["cancellationReason"] = "Something came up"
    return {"triggerEvent": trigger, "createdAt": _iso(), "payload": booking}


def generic(
    event: str = "booking.created",
    external_id: str = "crm-booking-0001",
    email: str = "ana@example.com",
    **utm: str,
) -> dict[str, Any]:
    return {
        "event": event,
        "external_id": external_id,
        "email": email,
        "booked_at": _iso(),
        "event_name": "Free consultation",
        **utm,
    }


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def timestamped(key: str, raw: bytes, stamp: int | None = None) -> str:
    """``t=<unix>,v1=<hex>`` as Calendly (and mailer's generic endpoint) expect it."""
    stamp = int(time.time()) if stamp is None else stamp
    mac = hmac.new(key.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def calendly_headers(
    raw: bytes, key: str = CALENDLY_KEY, stamp: int | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Calendly-Webhook-Signature": timestamped(key, raw, stamp),
    }


def calcom_headers(raw: bytes, key: str = CALCOM_KEY) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Cal-Signature-256": hmac.new(key.encode(), raw, hashlib.sha256).hexdigest(),
        "x-cal-webhook-version": "2021-10-20",
    }


def generic_headers(raw: bytes, key: str = BOOKING_KEY, stamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Mailer-Webhook-Signature": timestamped(key, raw, stamp),
    }
