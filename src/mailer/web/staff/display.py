"""How the staff pages show moments and figures: in the clinic's time zone, in words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.config import Settings

# The figures shown for a sent campaign, in this order, when it has them.
LISTED_FIGURES = (
    ("sent", "sent"),
    ("clicked_unique", "clicked"),
    ("cta_clicks", "booking-button clicks"),
    ("bookings", "bookings"),
    ("unsubscribed", "unsubscribed"),
)


def clinic_zone(settings: Settings) -> ZoneInfo:
    """[schedule] timezone (the configuration checks it), UTC if it cannot be found."""
    try:
        return ZoneInfo(settings.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def formatter(zone: ZoneInfo) -> Callable[[datetime | str | None], str]:
    """For templates: a moment as the clinic reads it, e.g. "Tue 24 Nov 2026, 09:00"."""

    def when(moment: datetime | str | None) -> str:
        if moment is None or moment == "":
            return ""
        if isinstance(moment, str):
            try:
                moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
            except ValueError:
                return str(moment)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # the database keeps UTC
        return moment.astimezone(zone).strftime("%a %d %b %Y, %H:%M")

    return when


def figures(values: dict[str, Any] | None) -> list[tuple[str, str]]:
    """For templates: (label, value) of a sent campaign's figures, those it has."""
    if not values:
        return []
    return [
        (label, f"{values[key]:,}")
        for key, label in LISTED_FIGURES
        if isinstance(values.get(key), int) and not isinstance(values.get(key), bool)
    ]
