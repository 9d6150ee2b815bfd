"""One person as staff see them: status with its history, tags, what they were sent, what they
clicked (the staff person page, issue 14 item 1), and the tag edits that page makes.

The history is the status_changes table as written by ``subscribers.status`` (the only writer
of a status): each row says from what to what, why, and who or what did it (signup, import,
the unsubscribe link, a bounce, a complaint, staff). Campaigns come from the delivery ledger
(only messages actually handed to the provider count as sent); clicks from our /c/ redirect.

Invariants: reading changes nothing; a tag edit never touches the status (tags are not
consent) and is idempotent (adding a tag twice, or removing one that is not there, is no
change and says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError
from mailer.store.models import (
    CampaignRun,
    Click,
    Delivery,
    DeliveryState,
    StatusChange,
    Subscriber,
    SubscriberTag,
)
from mailer.subscribers.normalize import MAX_TAG, normalize_tag

MAX_LISTED = 200  # campaigns and clicks shown on the page, newest first


@dataclass(frozen=True)
class HistoryEntry:
    old_status: str | None
    new_status: str
    reason: str
    source: str
    changed_at: datetime


@dataclass(frozen=True)
class SentCampaign:
    slug: str
    subject: str
    state: str
    sent_at: datetime | None
    clicks: int


@dataclass(frozen=True)
class ClickEntry:
    slug: str
    place: str
    url: str
    clicked_at: datetime


@dataclass(frozen=True)
class Profile:
    id: int
    email: str
    first_name: str
    last_name: str
    status: str
    consent_source: str
    consent_at: datetime | None
    created_at: datetime
    tags: list[str]
    history: list[HistoryEntry] = field(default_factory=list)
    campaigns: list[SentCampaign] = field(default_factory=list)
    clicks: list[ClickEntry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, list):
                return [plain(item) for item in value]
            return value

        return {key: plain(value) for key, value in asdict(self).items()}


def profile(sessions: sessionmaker[Session], subscriber_id: int) -> Profile | None:
    """The person with this id as the staff page shows them, or None when there is none."""
    with sessions() as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            return None
        history = [
            HistoryEntry(row.old_status, row.new_status, row.reason, row.source, row.changed_at)
            for row in session.scalars(
                select(StatusChange)
                .where(StatusChange.subscriber_id == subscriber_id)
                .order_by(StatusChange.changed_at, StatusChange.id)
            )
        ]
        clicks = [
            ClickEntry(slug, place, url, clicked_at)
            for slug, place, url, clicked_at in session.execute(
                select(CampaignRun.slug, Click.place, Click.url, Click.clicked_at)
                .join(CampaignRun, CampaignRun.id == Click.campaign_id)
                .where(Click.subscriber_id == subscriber_id)
                .order_by(Click.clicked_at.desc(), Click.id.desc())
                .limit(MAX_LISTED)
            )
        ]
        per_campaign: dict[str, int] = {}
        for click in clicks:
            per_campaign[click.slug] = per_campaign.get(click.slug, 0) + 1
        campaigns = [
            SentCampaign(slug, subject, state, sent_at, per_campaign.get(slug, 0))
            for slug, subject, state, sent_at in session.execute(
                select(CampaignRun.slug, CampaignRun.subject, Delivery.state, Delivery.sent_at)
                .join(CampaignRun, CampaignRun.id == Delivery.campaign_id)
                .where(
                    Delivery.subscriber_id == subscriber_id,
                    Delivery.state.in_(_HANDED_OVER),
                )
                .order_by(CampaignRun.created_at.desc(), CampaignRun.id.desc())
                .limit(MAX_LISTED)
            )
        ]
        return Profile(
            id=person.id,
            email=person.email,
            first_name=person.first_name,
            last_name=person.last_name,
            status=person.status,
            consent_source=person.consent_source,
            consent_at=person.consent_at,
            created_at=person.created_at,
            tags=sorted(tag.tag for tag in person.tags),
            history=history,
            campaigns=campaigns,
            clicks=clicks,
        )


# The message left us: the provider accepted it (the ledger's SENT).
_HANDED_OVER = (DeliveryState.SENT,)


def _tag(raw: str) -> str:
    tag = normalize_tag(raw)
    if not tag:
        raise InputError(f"{raw!r} is not a tag", hint="a word or a few, like new patient")
    if len(tag) > MAX_TAG:
        raise InputError(f"tag {tag[:40]!r}... is too long (at most {MAX_TAG} characters)")
    return tag


def add_tag(sessions: sessionmaker[Session], subscriber_id: int, raw: str) -> bool:
    """Give the person the tag; False when they had it already. InputError for a bad tag or
    an unknown person."""
    tag = _tag(raw)
    with sessions.begin() as session:
        if session.get(Subscriber, subscriber_id) is None:
            raise InputError(f"no subscriber with id {subscriber_id}")
        if session.get(SubscriberTag, (subscriber_id, tag)) is not None:
            return False
        session.add(SubscriberTag(subscriber_id=subscriber_id, tag=tag))
        return True


def remove_tag(sessions: sessionmaker[Session], subscriber_id: int, raw: str) -> bool:
    """Take the tag off the person; False when they did not have it."""
    tag = _tag(raw)
    with sessions.begin() as session:
        removed = session.execute(
            delete(SubscriberTag).where(
                SubscriberTag.subscriber_id == subscriber_id, SubscriberTag.tag == tag
            )
        )
        return bool(cast("CursorResult[Any]", removed).rowcount)
