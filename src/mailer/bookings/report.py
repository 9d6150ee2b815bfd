"""Booking figures: per campaign (for `mailer report CAMPAIGN`), and per campaign since a date
(`mailer report --since 90d`).

``bookings`` is the current count: bookings that stand now (cancellations and the replaced
half of a reschedule are not counted). By place and by article count the same bookings; a
booking found through utm_campaign alone counts at place "unmatched" unless utm_content named
one of the campaign's places, and as ``unmatched`` (no person known). Rates are bookings per
recipient and per person who clicked (``None`` when there is nobody to divide by).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.bookings.attribution import Match
from mailer.store.booking_models import Booking, BookingState
from mailer.store.models import CampaignRun

NO_ARTICLE = "(not known)"


@dataclass
class BookingFigures:
    bookings: int = 0
    cancellations: int = 0
    unmatched: int = 0
    by_place: dict[str, int] = field(default_factory=dict)
    by_article: dict[str, int] = field(default_factory=dict)


def connected(session: Session, key_set: bool) -> bool:
    """Bookings are being reported: a booking webhook key is set here, or one was ever
    recorded (a command run without the server's keys still counts them)."""
    return key_set or bool(session.scalar(select(exists().where(Booking.id.is_not(None)))))


def rate(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, 4)


def campaign_bookings(session: Session, run_id: int) -> BookingFigures:
    figures = BookingFigures()
    places: Counter[str] = Counter()
    articles: Counter[str] = Counter()
    rows = session.execute(
        select(Booking.state, Booking.place, Booking.article, Booking.matched_by).where(
            Booking.campaign_id == run_id
        )
    )
    for state, place, article, matched_by in rows:
        if state == BookingState.CANCELED:
            figures.cancellations += 1
        if state != BookingState.BOOKED:
            continue
        figures.bookings += 1
        figures.unmatched += matched_by == Match.UTM
        places[place or "unmatched"] += 1
        articles[article or NO_ARTICLE] += 1
    figures.by_place = dict(places.most_common())
    figures.by_article = dict(articles.most_common())
    return figures


@dataclass
class CampaignBookings:
    campaign: str
    sent_at: datetime
    recipients: int
    bookings: int
    cancellations: int
    booking_rate_per_recipient: float | None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sent_at": self.sent_at.isoformat()}


@dataclass
class BookingsSince:
    """`mailer report --since ... --json`: every campaign sent since, with its bookings."""

    since: datetime
    campaigns: list[CampaignBookings]
    connected: bool  # a booking webhook key is set

    @property
    def bookings(self) -> int:
        return sum(row.bookings for row in self.campaigns)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "bookings_connected": self.connected,
            "bookings": self.bookings,
            "campaigns": [row.as_dict() for row in self.campaigns],
        }


def bookings_since(session: Session, since: datetime, key_set: bool) -> BookingsSince:
    """Campaigns whose send started at or after ``since``, newest first, with their bookings;
    ``key_set``: a booking webhook key is set (config.Secrets.bookings_connected)."""
    counts = (
        select(
            Booking.campaign_id,
            func.count().filter(Booking.state == BookingState.BOOKED).label("booked"),
            func.count().filter(Booking.state == BookingState.CANCELED).label("canceled"),
        )
        .where(Booking.campaign_id.is_not(None))
        .group_by(Booking.campaign_id)
        .subquery()
    )
    rows = session.execute(
        select(
            CampaignRun.slug,
            CampaignRun.created_at,
            CampaignRun.recipients,
            func.coalesce(counts.c.booked, 0),
            func.coalesce(counts.c.canceled, 0),
        )
        .outerjoin(counts, counts.c.campaign_id == CampaignRun.id)
        .where(CampaignRun.created_at >= since)
        .order_by(CampaignRun.created_at.desc(), CampaignRun.id.desc())
    ).all()
    campaigns = [
        CampaignBookings(
            slug, created, recipients, int(booked), int(canceled), rate(int(booked), recipients)
        )
        for slug, created, recipients, booked, canceled in rows
    ]
    return BookingsSince(since, campaigns, connected(session, key_set))


def bookings_since_in(
    sessions: sessionmaker[Session], since: datetime, key_set: bool
) -> BookingsSince:
    """``bookings_since`` in a session of its own (for a face: `mailer report --since`)."""
    with sessions() as session:
        return bookings_since(session, since, key_set)
