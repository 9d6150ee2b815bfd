"""The bookings table: each consultation a booking tool's webhook told us about (mailer.bookings).

Beside store/models.py to keep each module readable; it registers with the same ``Base``, and
mailer.store imports this module, so the metadata always holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailer.store.models import Base, BigId, UTCDateTime, utcnow


class BookingState:
    """A booking as the booking tool last told us (mailer.bookings)."""

    BOOKED = "booked"  # counts for its campaign
    CANCELED = "canceled"  # counts as a cancellation
    RESCHEDULED = "rescheduled"  # replaced by a new booking, which counts instead

    ALL = (BOOKED, CANCELED, RESCHEDULED)


class Booking(Base):
    """A consultation booked through a booking tool's webhook, and what brought it.

    Only what attribution needs is kept: never the booker's name, address or answers. The
    booking tool's id is kept as a sha256 (``external_key``): enough to recognize a retry, a
    cancellation or a reschedule of the same booking. Erasing a person clears
    ``subscriber_id``, ``email_hash`` and ``params``; the anonymous count stays.
    """

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))  # calendly, calcom, booking
    external_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default=BookingState.BOOKED)
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaign_runs.id", ondelete="CASCADE"), nullable=True
    )
    place: Mapped[str] = mapped_column(String(100), default="")  # cta-top, ..., unmatched
    article: Mapped[str] = mapped_column(Text, default="")  # the article's address, no utm_*
    # How the campaign was found: ref (the signed click reference), address (a subscriber who
    # clicked a booking link lately), utm (utm_campaign alone), or "" (not from a campaign).
    matched_by: Mapped[str] = mapped_column(String(20), default="")
    # No foreign key, as for clicks: the row outlives an erased subscriber, anonymous.
    subscriber_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    event_name: Mapped[str] = mapped_column(String(200), default="")
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The utm_* parameters the booking tool passed back (a click reference only as "ref").
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The external_key of the booking this one replaced (a reschedule), or "".
    replaces_key: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        Index("ix_bookings_source_key", "source", "external_key", unique=True),
        Index("ix_bookings_source_replaces", "source", "replaces_key"),
        Index("ix_bookings_campaign_state", "campaign_id", "state"),
    )
