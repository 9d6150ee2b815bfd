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
  NOTHING RETURNING: only the one that inserted says "stored"); on SQLite the transaction takes
  the write lock first (BEGIN IMMEDIATE), so a read followed by a write never fails on a
  snapshot another writer (a click) moved on. (On PostgreSQL, the two halves of one reschedule
  arriving in the same few milliseconds could still both count: Calendly sends them one after
  the other, and Cal.com sends one.)

The booker's address is used to attribute and then dropped; only its sha256 is kept, and only for
a booking attributed to a campaign (so that erasing the person can find it).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row, Table, bindparam, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from mailer.bookings.attribution import Attribution, attribute, email_key
from mailer.bookings.model import BookingEvent, Kind
from mailer.bookings.refs import read_ref
from mailer.store.booking_models import Booking, BookingState
from mailer.store.models import CampaignRun, utcnow
from mailer.subscribers.normalize import email_hash
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


def _stored_params(key: SecretKey, params: dict[str, str]) -> dict[str, str]:
    """The utm_* as passed back, a click reference replaced by "ref" (it names a subscriber)."""
    return {name: "ref" if read_ref(key, value) else value for name, value in params.items()}


BOOKINGS = cast(Table, Booking.__table__)
# Built once (bound parameters), as in attribution.py: compiled once, reused.
_COLUMNS = (
    Booking.id, Booking.state, Booking.campaign_id, Booking.place, Booking.article,
    Booking.subscriber_id, Booking.email_hash, Booking.matched_by, Booking.params,
    Booking.external_key, Booking.replaces_key, CampaignRun.slug,
)  # fmt: skip
_ROW = (
    select(*_COLUMNS)
    .outerjoin(CampaignRun, CampaignRun.id == Booking.campaign_id)
    .where(Booking.source == bindparam("source"), Booking.external_key == bindparam("key"))
)
# A creation's relatives in one query: itself (a retry), the booking it replaces, and a
# booking that already replaced it (the later half of a reschedule, arrived first).
_RELATED = union_all(  # two indexed lookups (an OR made SQLite scan the source's rows)
    select(*_COLUMNS)
    .outerjoin(CampaignRun, CampaignRun.id == Booking.campaign_id)
    .where(
        Booking.source == bindparam("source"),
        Booking.external_key.in_([bindparam("key"), bindparam("old")]),
    ),
    select(*_COLUMNS)
    .outerjoin(CampaignRun, CampaignRun.id == Booking.campaign_id)
    .where(Booking.source == bindparam("source"), Booking.replaces_key == bindparam("key")),
)
_SET_STATE = (
    update(Booking)
    .where(Booking.id == bindparam("row_id"), Booking.state == BookingState.BOOKED)
    .values(state=bindparam("new_state"), changed_at=bindparam("now"))
    .returning(Booking.id)
)
# RETURNING tells whether the row went in: psycopg reports rowcount -1 for these INSERTs, which
# let two racing deliveries of one booking both say "stored" (caught by a test).
_INSERTS = {
    "postgresql": postgresql.insert(BOOKINGS)
    .on_conflict_do_nothing(index_elements=["source", "external_key"])
    .returning(BOOKINGS.c.id),
    "sqlite": sqlite.insert(BOOKINGS)
    .on_conflict_do_nothing(index_elements=["source", "external_key"])
    .returning(BOOKINGS.c.id),
}


def _insert(connection: Connection, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; False when the booking was already there."""
    statement = _INSERTS.get(connection.dialect.name)
    if statement is None:
        raise RuntimeError(f"bookings support SQLite and PostgreSQL, not {connection.dialect.name}")
    return connection.execute(statement, values).first() is not None


@dataclass(frozen=True)
class _Booker:
    """The booker's address, as far as it is used: to attribute, and hashed to be erasable."""

    key: str  # Subscriber.email_key form; never stored
    hash: str | None


def _booker(email: str) -> _Booker:
    key = email_key(email)
    return _Booker(key, email_hash(key) if key else None)


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
    attributed = found.campaign_id is not None  # else: nothing about the person is kept
    return {
        "source": event.source,
        "external_key": key,
        "state": state,
        "campaign_id": found.campaign_id,
        "place": found.place[:100],
        "article": found.article,
        "matched_by": found.matched_by,
        "subscriber_id": found.subscriber_id,
        "email_hash": address if attributed else None,
        "event_name": event.event_name,
        "booked_at": event.booked_at or now,
        "received_at": now,
        "changed_at": now,
        "params": params if attributed else {},
        "replaces_key": replaces,
    }


def _set_state(connection: Connection, row_id: int, state: str, now: datetime) -> bool:
    """Move a booked row to ``state``; False when it was no longer booked."""
    moved = connection.execute(_SET_STATE, {"row_id": row_id, "new_state": state, "now": now})
    return moved.first() is not None


def _find(connection: Connection, source: str, key: str) -> Row[Any] | None:
    return connection.execute(_ROW, {"source": source, "key": key}).first()


def _created(
    connection: Connection, key: SecretKey, event: BookingEvent, booking_url: str, now: datetime
) -> RecordResult:
    own = external_key(event.source, event.external_id)
    old_key = external_key(event.source, event.replaces) if event.replaces else ""
    if old_key == own:
        old_key = ""  # "rescheduled from itself": the same booking, nothing replaced
    related = connection.execute(
        _RELATED, {"source": event.source, "key": own, "old": old_key or "-"}
    ).all()
    existing = next((row for row in related if row.external_key == own), None)
    if existing is not None:
        return RecordResult(
            Outcome.DUPLICATE,
            existing.state,
            existing.slug or "",
            existing.place,
            existing.matched_by,
        )
    old = next((row for row in related if old_key and row.external_key == old_key), None)
    booker = _booker(event.email)
    address, params = booker.hash, _stored_params(key, event.params)
    if old is not None and old.campaign_id is not None:
        # The same consultation, moved: what brought it does not change.
        found = Attribution(
            old.campaign_id,
            old.slug or "",
            old.place,
            old.article,
            old.subscriber_id,
            old.matched_by,
        )
        address, params = old.email_hash, dict(old.params or {})
    else:
        found = attribute(connection, key, event, booker.key, booking_url, now)
    # A later reschedule of this booking may have arrived first: then this half never counts.
    replaced = any(row.replaces_key == own for row in related)
    state = BookingState.RESCHEDULED if replaced else BookingState.BOOKED
    values = _values(event, own, state, found, params, address, now, old_key)
    if not _insert(connection, values):  # a concurrent delivery of the same booking won
        return RecordResult(Outcome.DUPLICATE, state, found.slug)
    if old is not None:
        _set_state(connection, old.id, BookingState.RESCHEDULED, now)
    return RecordResult(Outcome.STORED, state, found.slug, found.place, found.matched_by)


def _canceled(
    connection: Connection, key: SecretKey, event: BookingEvent, booking_url: str, now: datetime
) -> RecordResult:
    own = external_key(event.source, event.external_id)
    state = BookingState.RESCHEDULED if event.rescheduled else BookingState.CANCELED
    outcome = Outcome.RESCHEDULED if event.rescheduled else Outcome.CANCELED
    existing = _find(connection, event.source, own)
    if existing is None:
        # Cancellation before creation: stored canceled, attributed as its creation would be
        # (it counts among the campaign's cancellations); the creation then changes nothing.
        booker = _booker(event.email)
        found = attribute(connection, key, event, booker.key, booking_url, now)
        params = _stored_params(key, event.params)
        if _insert(connection, _values(event, own, state, found, params, booker.hash, now)):
            return RecordResult(Outcome.STORED, state, found.slug, found.place, found.matched_by)
        existing = _find(connection, event.source, own)  # its creation just won
        assert existing is not None
    changed = _set_state(connection, existing.id, state, now)
    return RecordResult(
        outcome if changed else Outcome.DUPLICATE,
        state if changed else existing.state,
        existing.slug or "",
        existing.place,
        existing.matched_by,
    )


def record_booking(
    engine: Engine,
    key: SecretKey,
    event: BookingEvent,
    booking_url: str,
    now: datetime | None = None,
) -> RecordResult:
    """Store ``event`` (verified and parsed) in one transaction; what it did."""
    now = now or utcnow()
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":  # the write lock before the first read
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        if event.kind == Kind.CREATED:
            result = _created(connection, key, event, booking_url, now)
        else:
            result = _canceled(connection, key, event, booking_url, now)
        connection.commit()
    return result
