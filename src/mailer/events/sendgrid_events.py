"""SendGrid event objects -> the EventKind vocabulary, with the raw event kept beside it.

SendGrid copies our ``custom_args`` onto every event as top-level keys: ``subscriber_id`` (per
personalization) and ``campaign_slug``/``campaign_id`` (per message); see
delivery/providers/sendgrid.py.

Bounces: SendGrid's ``bounce`` event has ``type`` "bounce" (the receiving server refused the
address for good) or "blocked" (refused for a reason that may pass: reputation, content, a full
mailbox). Only "bounce" maps to BOUNCED and suppresses; "blocked" maps to DROPPED (not delivered,
the address kept). ``dropped`` (SendGrid's own suppression lists) suppresses nothing here either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mailer.models import EventKind

KINDS = {
    "processed": EventKind.PROCESSED,
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.DEFERRED,
    "bounce": EventKind.BOUNCED,
    "dropped": EventKind.DROPPED,
    "open": EventKind.OPENED,
    "click": EventKind.CLICKED,
    "spamreport": EventKind.COMPLAINED,
    "unsubscribe": EventKind.UNSUBSCRIBED,
    "group_unsubscribe": EventKind.UNSUBSCRIBED,
}
MAX_ID_CHARS = 200  # Event.source_event_id
MAX_DB_ID = 2**63 - 1


class PayloadError(Exception):
    """The (verified) body is not a JSON array of event objects."""


@dataclass(frozen=True)
class MappedEvent:
    kind: str
    source_event_id: str | None
    subscriber_id: int | None
    campaign_id: int | None  # as the custom_args say; checked against campaign_runs on ingest
    campaign_slug: str
    occurred_at: datetime | None
    raw: dict[str, Any]


def parse_batch(body: bytes) -> list[dict[str, Any]]:
    """The list of event objects in a webhook body."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise PayloadError("the body is not JSON") from err
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise PayloadError("the body is not a JSON array of event objects")
    return data


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_DB_ID else None


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def map_event(raw: dict[str, Any]) -> MappedEvent | None:
    """One SendGrid event in our vocabulary, or None for an event type we do not record."""
    kind = KINDS.get(str(raw.get("event", "")))
    if kind is None:
        return None
    if kind == EventKind.BOUNCED and raw.get("type") == "blocked":
        kind = EventKind.DROPPED
    event_id = raw.get("sg_event_id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_ID_CHARS:
        event_id = None
    slug = raw.get("campaign_slug")
    return MappedEvent(
        kind=kind,
        source_event_id=event_id,
        subscriber_id=_as_id(raw.get("subscriber_id")),
        campaign_id=_as_id(raw.get("campaign_id")),
        campaign_slug=slug[:200] if isinstance(slug, str) else "",
        occurred_at=_as_time(raw.get("timestamp")),
        raw=raw,
    )
