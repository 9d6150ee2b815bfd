"""Store a batch of provider events in one transaction and suppress who must not be mailed.

Provider-neutral: it stores ProviderEvents whatever source parsed them (sources/), and knows no
provider's format. Bulk by design (a SendGrid batch holds up to thousands of events): one query
for the event ids already stored, one for the campaigns named, one multi-row INSERT ... ON
CONFLICT DO NOTHING (a retry racing us is harmless: the unique event id stores it once), one
query for the people to suppress.

Two ways in, one way through (``record_events``): a webhook source's parsed batch (``ingest``),
and addresses an SMTP server refused for good while we sent (``record_smtp_bounces``), which
bounce and suppress exactly as a provider's bounce events do. Only new events suppress, so a
retried batch changes nothing; a suppression moves a person up the ladder only (never revives,
never downgrades: subscribers/status.py decides).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.events.sources.base import ParsedBatch, ProviderEvent
from mailer.states import EventKind, SubscriberStatus
from mailer.store.db import insert_ignoring_duplicates, transaction
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

SUPPRESS_AS: dict[str, SubscriberStatus] = {
    EventKind.BOUNCED: SubscriberStatus.BOUNCED,
    EventKind.COMPLAINED: SubscriberStatus.COMPLAINED,
    EventKind.UNSUBSCRIBED: SubscriberStatus.UNSUBSCRIBED,
}
SMTP_BOUNCE = "the address bounced (the SMTP server refused it for good)"


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0  # event types we do not record
    suppressed: int = 0
    skipped: int = 0  # elements of the batch that were not usable events

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _stored_ids(session: Session, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            session.scalars(select(Event.source_event_id).where(Event.source_event_id.in_(chunk)))
        )
    return found


def _campaign_ids(
    session: Session, events: list[ProviderEvent]
) -> dict[tuple[int | None, str], int]:
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


def _suppress(session: Session, events: list[ProviderEvent], source: str, by: By) -> int:
    """Each person named moves to the strongest suppression of their events, as far as the
    transition table (subscribers.status) lets ``by`` move them: up only."""
    strongest: dict[int, ProviderEvent] = {}
    for event in events:
        if event.kind in SUPPRESS_AS and event.subscriber_id is not None:
            current = strongest.get(event.subscriber_id)
            if current is None or RANK[SUPPRESS_AS[event.kind]] > RANK[SUPPRESS_AS[current.kind]]:
                strongest[event.subscriber_id] = event
    changed = 0
    for chunk in _chunks(sorted(strongest)):
        for subscriber in session.scalars(select(Subscriber).where(Subscriber.id.in_(chunk))):
            event = strongest[subscriber.id]
            status = SUPPRESS_AS[event.kind]
            if not may_move(subscriber.status, status, by):  # never revived, never downgraded
                continue
            reason = event.reason or f"{event.kind} ({source} event)"
            if move(session, subscriber, status, by=by, reason=reason, source=source):
                changed += 1
    return changed


def _resolve_people(session: Session, events: list[ProviderEvent]) -> list[ProviderEvent]:
    """Events of an erased subscriber are kept only as anonymous counts (no id, no address);
    a suppressing event without our subscriber_id (e.g. a confirmation email) is matched by
    its address, so it still suppresses."""
    wanted = sorted({e.subscriber_id for e in events if e.subscriber_id is not None})
    known: set[int] = set()
    for chunk in _chunks(wanted):
        known.update(session.scalars(select(Subscriber.id).where(Subscriber.id.in_(chunk))))
    resolved: list[ProviderEvent] = []
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


def ingest(sessions: sessionmaker[Session], batch: ParsedBatch) -> IngestResult:
    """Store the new events of a source's parsed batch and suppress bounced, complaining and
    unsubscribed people, all in one transaction. Events already stored (same provider event
    id) are counted as duplicates; only new events suppress, so a retried batch changes
    nothing."""
    result = IngestResult(
        received=batch.received, ignored=batch.ignored, skipped=len(batch.skipped)
    )
    return record_events(sessions, batch.events, source=batch.source, result=result)


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
        ProviderEvent(
            kind=EventKind.BOUNCED,
            source_event_id=f"smtp-rcpt:{campaign_id}:{address.subscriber_id}",
            subscriber_id=address.subscriber_id,
            campaign_id=campaign_id,
            campaign_slug=campaign_slug,
            occurred_at=None,
            raw={"email": address.email, "smtp_code": address.code, "reply": address.reply},
            reason=SMTP_BOUNCE,
        )
        for address in refused
    ]
    result = IngestResult(len(events))
    return record_events(sessions, events, source="smtp", result=result, by=By.SMTP_BOUNCE)


def record_events(
    sessions: sessionmaker[Session],
    mapped: list[ProviderEvent],
    *,
    source: str,
    result: IngestResult,
    by: By = By.PROVIDER,
) -> IngestResult:
    """Store the events not stored yet and suppress whom they name (as ``by``: a provider's
    event, or our own SMTP send), in one transaction."""
    with transaction(sessions) as session:
        seen = _stored_ids(session, [e.source_event_id for e in mapped if e.source_event_id])
        fresh: list[ProviderEvent] = []
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
            insert = insert_ignoring_duplicates(session, EVENTS, "source_event_id")
            session.connection().execute(insert, rows)
        result.stored = len(rows)
        result.suppressed = _suppress(session, fresh, source, by)
    return result
