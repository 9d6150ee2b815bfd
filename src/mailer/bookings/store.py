"""Store one verified booking event: once, whatever the order, retries and reschedules.

Each booking is one row, found by (source, sha256 of the tool's id). The rules that keep the
count right:

- a creation for a booking already stored changes nothing (a retry, a replay);
- a cancellation of a booking not seen yet stores it canceled (cancellation before creation),
  and its creation arriving later changes nothing: a canceled booking never comes back;
- a reschedule is a new booking naming the one it replaces (Calendly's ``old_invitee``, Cal.com's
  ``rescheduleUid``, ``rescheduled_from``): the new one takes over the old one's attribution and
  the old one becomes ``rescheduled`` (not counted, not a cancellation), in whichever order the
  two halves arrive;
- concurrent deliveries of one booking meet at the unique index (INSERT ... ON CONFLICT DO
  NOTHING); on SQLite the transaction takes the write lock first (BEGIN IMMEDIATE), so a read
  followed by a write never fails on a snapshot another writer (a click) moved on.

The booker's address is used to attribute and then dropped; only its sha256 is kept, and only for
a booking attributed to a campaign (so that erasing the person can find it).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from mailer.bookings.attribution import Attribution, attribute
from mailer.bookings.model import BookingEvent, Kind
from mailer.bookings.refs import read_ref
from mailer.store.models import Booking, BookingState, CampaignRun, utcnow
from mailer.subscribers.normalize import InvalidAddress, email_hash, guess_key, normalize_email
from mailer.tokens import SecretKey


class Outcome:
    STORED = "stored"  # a new booking (or a cancellation seen before its booking)
    DUPLICATE = "duplicate"  # already known as it is: nothing changed
    CANCELED = "canceled"
    RESCHEDULED = "rescheduled"  # the old half of a reschedule


@dataclass
class RecordResult:
    """What one webhook delivery did (the endpoint's JSON answer; no personal data)."""

    outcome: str
    state: str
    campaign: str = ""
    place: str = ""
    matched_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def external_key(source: str, external_id: str) -> str:
    return hashlib.sha256(f"{source}\x00{external_id}".encode()).hexdigest()


def _address_hash(email: str) -> str | None:
    if not email.strip():
        return None
    try:
        return email_hash(normalize_email(email).key)
    except InvalidAddress:
        return email_hash(guess_key(email))


def _stored_params(key: SecretKey, params: dict[str, str]) -> dict[str, str]:
    """The utm_* as passed back, a click reference replaced by "ref" (it names a subscriber)."""
    return {name: "ref" if read_ref(key, value) else value for name, value in params.items()}


def _insert(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    table = Booking.__table__
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(
            index_elements=["source", "external_key"]
        )
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(
            index_elements=["source", "external_key"]
        )
    raise RuntimeError(f"bookings support SQLite and PostgreSQL, not {dialect}")


def _row(source: str, key: str) -> Any:
    return select(
        Booking.id, Booking.state, Booking.campaign_id, Booking.place, Booking.article,
        Booking.subscriber_id, Booking.email_hash, Booking.matched_by, Booking.params,
    ).where(Booking.source == source, Booking.external_key == key)  # fmt: skip


def _values(
    event: BookingEvent,
    key: str,
    state: str,
    found: Attribution,
    params: dict[str, str],
    address: str | None,
    now: datetime,
    replaces: str = "",
) -> dict[str, Any]:
    return {
        "source": event.source,
        "external_key": key,
        "state": state,
        "campaign_id": found.campaign_id,
        "place": found.place[:100],
        "article": found.article,
        "matched_by": found.matched_by,
        "subscriber_id": found.subscriber_id,
        "email_hash": address if found.campaign_id is not None else None,
        "event_name": event.event_name,
        "booked_at": event.booked_at or now,
        "received_at": now,
        "changed_at": now,
        "params": params if found.campaign_id is not None else {},
        "replaces_key": replaces,
    }


def _set_state(session: Session, row_id: int, state: str, now: datetime) -> bool:
    """Move a booked row to ``state``; False when it was no longer booked."""
    result = session.execute(
        update(Booking)
        .where(Booking.id == row_id, Booking.state == BookingState.BOOKED)
        .values(state=state, changed_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


def _slug(session: Session, campaign_id: int | None) -> str:
    if campaign_id is None:
        return ""
    return session.scalar(select(CampaignRun.slug).where(CampaignRun.id == campaign_id)) or ""


def _created(
    session: Session, key: SecretKey, event: BookingEvent, booking_url: str, now: datetime
) -> RecordResult:
    own = external_key(event.source, event.external_id)
    existing = session.execute(_row(event.source, own)).first()
    if existing is not None:
        return RecordResult(
            Outcome.DUPLICATE,
            existing.state,
            _slug(session, existing.campaign_id),
            existing.place,
            existing.matched_by,
        )
    old_key = external_key(event.source, event.replaces) if event.replaces else ""
    old = (
        session.execute(_row(event.source, old_key)).first() if old_key != own and old_key else None
    )
    address = _address_hash(event.email)
    params = _stored_params(key, event.params)
    if old is not None and old.campaign_id is not None:
        # The same consultation, moved: what brought it does not change.
        found = Attribution(
            old.campaign_id, "", old.place, old.article, old.subscriber_id, old.matched_by
        )
        address, params = old.email_hash, dict(old.params or {})
    else:
        found = attribute(session, key, event, booking_url, now)
    # A later reschedule of this booking may have arrived first: then this half never counts.
    replaced = session.scalar(
        select(Booking.id).where(Booking.source == event.source, Booking.replaces_key == own)
    )
    state = BookingState.RESCHEDULED if replaced is not None else BookingState.BOOKED
    values = _values(
        event, own, state, found, params, address, now, old_key if old_key != own else ""
    )
    inserted = session.execute(_insert(session).values(**values))
    if not getattr(inserted, "rowcount", 1):  # a concurrent delivery of the same booking won
        return RecordResult(Outcome.DUPLICATE, state, _slug(session, found.campaign_id))
    if old is not None:
        _set_state(session, old.id, BookingState.RESCHEDULED, now)
    return RecordResult(
        Outcome.STORED, state, _slug(session, found.campaign_id), found.place, found.matched_by
    )


def _canceled(
    session: Session, key: SecretKey, event: BookingEvent, booking_url: str, now: datetime
) -> RecordResult:
    own = external_key(event.source, event.external_id)
    state = BookingState.RESCHEDULED if event.rescheduled else BookingState.CANCELED
    outcome = Outcome.RESCHEDULED if event.rescheduled else Outcome.CANCELED
    existing = session.execute(_row(event.source, own)).first()
    if existing is None:
        # Cancellation before creation: stored canceled, attributed as its creation would be
        # (it counts among the campaign's cancellations); the creation then changes nothing.
        found = attribute(session, key, event, booking_url, now)
        values = _values(
            event, own, state, found, _stored_params(key, event.params),
            _address_hash(event.email), now,
        )  # fmt: skip
        if getattr(session.execute(_insert(session).values(**values)), "rowcount", 1):
            return RecordResult(
                Outcome.STORED, state, _slug(session, found.campaign_id), found.place,
                found.matched_by,
            )  # fmt: skip
        existing = session.execute(_row(event.source, own)).first()  # its creation just won
        assert existing is not None
    changed = _set_state(session, existing.id, state, now)
    return RecordResult(
        outcome if changed else Outcome.DUPLICATE,
        state if changed else existing.state,
        _slug(session, existing.campaign_id),
        existing.place,
        existing.matched_by,
    )


def record_booking(
    sessions: sessionmaker[Session],
    key: SecretKey,
    event: BookingEvent,
    booking_url: str,
    now: datetime | None = None,
) -> RecordResult:
    """Store ``event`` (verified and parsed) in one transaction; what it did."""
    now = now or utcnow()
    with sessions() as session:
        if session.get_bind().dialect.name == "sqlite":  # take the write lock before reading
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        if event.kind == Kind.CREATED:
            result = _created(session, key, event, booking_url, now)
        else:
            result = _canceled(session, key, event, booking_url, now)
        session.commit()
    return result
