"""Store a batch of provider events in one transaction and suppress who must not be mailed.

Bulk by design (a SendGrid batch holds up to thousands of events): one query for the event ids
already stored, one for the campaigns named, one multi-row INSERT ... ON CONFLICT DO NOTHING
(a retry racing us is harmless), one query for the people to suppress.

Two ways in, one way through (``record_events``): SendGrid's webhook events
(``ingest_events``), and addresses an SMTP server refused for good while we sent
(``record_smtp_bounces``), which bounce and suppress exactly as SendGrid's bounce events do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from mailer.events.sendgrid_events import MappedEvent, map_event
from mailer.states import EventKind, SubscriberStatus
from mailer.store.db import transaction
from mailer.store.models import CampaignRun, Event, Subscriber, utcnow
from mailer.subscribers.service import find_subscriber
from mailer.subscribers.status import RANK, By, may_move, move

EVENTS = cast(
    Table, Event.__table__
)  # Core: a plain executemany, without the ORM's bulk bookkeeping
CHUNK = 500
PERSONAL_FIELDS = frozenset(
    {"email", "ip", "useragent", "url_offset"}
)  # ids per IN (...) list: well under every backend's parameter limit

SUPPRESS_AS = {
    EventKind.BOUNCED: SubscriberStatus.BOUNCED,
    EventKind.COMPLAINED: SubscriberStatus.COMPLAINED,
    EventKind.UNSUBSCRIBED: SubscriberStatus.UNSUBSCRIBED,
}
REASONS = {
    EventKind.BOUNCED: "the address bounced (SendGrid bounce event)",
    EventKind.COMPLAINED: "marked the newsletter as spam (SendGrid spam report)",
    EventKind.UNSUBSCRIBED: "unsubscribed through SendGrid",
}
REASONS_BY_SOURCE = {
    "smtp": {EventKind.BOUNCED: "the address bounced (the SMTP server refused it for good)"},
}


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0  # event types we do not record
    suppressed: int = 0
    skipped: int = 0  # elements of the batch that were not usable events (see parse_batch)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _insert_ignoring_duplicates(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(EVENTS).on_conflict_do_nothing(index_elements=["source_event_id"])
    if dialect == "sqlite":
        return sqlite.insert(EVENTS).on_conflict_do_nothing(index_elements=["source_event_id"])
    raise RuntimeError(f"event ingestion supports SQLite and PostgreSQL, not {dialect}")


def _stored_ids(session: Session, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            session.scalars(select(Event.source_event_id).where(Event.source_event_id.in_(chunk)))
        )
    return found


def _campaign_ids(session: Session, events: list[MappedEvent]) -> dict[tuple[int | None, str], int]:
    """(campaign_id, slug) as the events name them -> an existing campaign run's id."""
    wanted_ids = sorted({e.campaign_id for e in events if e.campaign_id is not None})
    wanted_slugs = sorted({e.campaign_slug for e in events if e.campaign_slug})
    by_id: dict[int, str] = {}
    for chunk in _chunks(wanted_ids):
        by_id.update(
            session.execute(
                select(CampaignRun.id, CampaignRun.slug).where(CampaignRun.id.in_(chunk))
            ).all()
        )
    by_slug: dict[str, int] = {}
    for chunk in _chunks(wanted_slugs):
        by_slug.update(
            session.execute(
                select(CampaignRun.slug, CampaignRun.id).where(CampaignRun.slug.in_(chunk))
            ).all()
        )
    resolved: dict[tuple[int | None, str], int] = {}
    for event in events:
        pair = (event.campaign_id, event.campaign_slug)
        if pair in resolved:
            continue
        # The id wins when that run exists and has the slug sent with it (if one was).
        cid = event.campaign_id
        if (
            cid is not None
            and cid in by_id
            and (not event.campaign_slug or by_id[cid] == event.campaign_slug)
        ):
            resolved[pair] = cid
        elif event.campaign_slug in by_slug:
            resolved[pair] = by_slug[event.campaign_slug]
    return resolved


def _suppress(session: Session, events: list[MappedEvent], source: str) -> int:
    """Each person named moves to the strongest suppression of their events, as far as the
    transition table (subscribers.status) lets a provider's event move them: up only."""
    by = By.SMTP_BOUNCE if source == "smtp" else By.PROVIDER
    strongest: dict[int, EventKind] = {}
    for event in events:
        if event.kind in SUPPRESS_AS and event.subscriber_id is not None:
            current = strongest.get(event.subscriber_id)
            if current is None or RANK[SUPPRESS_AS[event.kind]] > RANK[SUPPRESS_AS[current]]:
                strongest[event.subscriber_id] = event.kind
    changed = 0
    for chunk in _chunks(sorted(strongest)):
        for subscriber in session.scalars(select(Subscriber).where(Subscriber.id.in_(chunk))):
            kind = strongest[subscriber.id]
            status = SUPPRESS_AS[kind]
            if not may_move(subscriber.status, status, by):  # never revived, never downgraded
                continue
            reason = REASONS_BY_SOURCE.get(source, REASONS)[kind]
            if move(session, subscriber, status, by=by, reason=reason, source=source):
                changed += 1
    return changed


def _resolve_people(session: Session, events: list[MappedEvent]) -> list[MappedEvent]:
    """Events of an erased subscriber are kept only as anonymous counts (no id, no address);
    a suppressing event without our subscriber_id (e.g. a confirmation email) is matched by
    its address, so it still suppresses."""
    wanted = sorted({e.subscriber_id for e in events if e.subscriber_id is not None})
    known: set[int] = set()
    for chunk in _chunks(wanted):
        known.update(session.scalars(select(Subscriber.id).where(Subscriber.id.in_(chunk))))
    resolved: list[MappedEvent] = []
    for event in events:
        if event.subscriber_id is not None and event.subscriber_id not in known:
            anonymous = {k: v for k, v in event.raw.items() if k not in PERSONAL_FIELDS}
            event = replace(event, subscriber_id=None, raw=anonymous)
        elif event.subscriber_id is None and event.kind in SUPPRESS_AS:
            email = event.raw.get("email")
            found = find_subscriber(session, email) if isinstance(email, str) else None
            if found is not None:
                event = replace(event, subscriber_id=found.id)
        resolved.append(event)
    return resolved


def ingest_events(
    sessions: sessionmaker[Session], raw_events: list[dict[str, Any]], *, source: str = "sendgrid"
) -> IngestResult:
    """Store the new events of a batch and suppress bounced, complaining and unsubscribed
    people, all in one transaction. Events already stored (same provider event id) are skipped;
    only new events suppress, so a retried batch changes nothing."""
    result = IngestResult(received=len(raw_events))
    mapped: list[MappedEvent] = []
    for raw in raw_events:
        event = map_event(raw)
        if event is None:
            result.ignored += 1
        else:
            mapped.append(event)
    return record_events(sessions, mapped, source=source, result=result)


@dataclass(frozen=True)
class RefusedAddress:
    """An address a mail server refused for good while we sent to it (SMTP 5xx at RCPT)."""

    subscriber_id: int
    email: str
    code: int | None
    reply: str


def record_smtp_bounces(
    sessions: sessionmaker[Session],
    campaign_id: int,
    campaign_slug: str,
    refused: Sequence[RefusedAddress],
) -> IngestResult:
    """Each refused address as a bounced event of the campaign (source "smtp"), suppressed as
    a SendGrid bounce is. The event id names campaign and subscriber, so recording the same
    refusal again (a resumed send) stores and changes nothing."""
    events = [
        MappedEvent(
            kind=EventKind.BOUNCED,
            source_event_id=f"smtp-rcpt:{campaign_id}:{address.subscriber_id}",
            subscriber_id=address.subscriber_id,
            campaign_id=campaign_id,
            campaign_slug=campaign_slug,
            occurred_at=None,
            raw={"email": address.email, "smtp_code": address.code, "reply": address.reply},
        )
        for address in refused
    ]
    return record_events(sessions, events, source="smtp", result=IngestResult(len(events)))


def record_events(
    sessions: sessionmaker[Session],
    mapped: list[MappedEvent],
    *,
    source: str,
    result: IngestResult,
) -> IngestResult:
    """Store the events not stored yet and suppress whom they name, in one transaction."""
    with transaction(sessions) as session:
        seen = _stored_ids(session, [e.source_event_id for e in mapped if e.source_event_id])
        fresh: list[MappedEvent] = []
        for event in mapped:
            if event.source_event_id is not None:
                if event.source_event_id in seen:
                    result.duplicates += 1
                    continue
                seen.add(event.source_event_id)
            fresh.append(event)
        fresh = _resolve_people(session, fresh)
        campaigns = _campaign_ids(session, fresh)
        now = utcnow()
        rows = [
            {
                "source": source,
                "source_event_id": event.source_event_id,
                "kind": event.kind,
                "campaign_id": campaigns.get((event.campaign_id, event.campaign_slug)),
                "subscriber_id": event.subscriber_id,
                "occurred_at": event.occurred_at or now,
                "raw": event.raw,
            }
            for event in fresh
        ]
        if rows:
            session.connection().execute(_insert_ignoring_duplicates(session), rows)
        result.stored = len(rows)
        result.suppressed = _suppress(session, fresh, source)
    return result
