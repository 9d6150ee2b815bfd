"""Unsubscribing by link, and its undo: the rules, without the web.

The unsubscribe link (a signed token in every newsletter) unsubscribes a person who is on the
list; a bounced or complained address keeps its status (it is suppressed already). The page's
own button and RFC 8058's one-click POST are told apart (history source ``web`` or
``one-click``) because only the page's button may be undone: the page shown right after it
offers an undo naming that StatusChange, for ``UNDO_WINDOW``, recorded as new consent
(``undo_unsubscribe``). Every status change goes through subscribers.status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from mailer.states import EventKind, SubscriberStatus
from mailer.store.models import CampaignRun, Event, StatusChange, Subscriber, utcnow
from mailer.subscribers.service import resubscribe
from mailer.subscribers.status import By, may_move, move

# How long the page shown right after a web unsubscribe may undo it: long enough to notice a
# mis-click, short enough that an old or forwarded email cannot revive anyone.
UNDO_WINDOW = timedelta(minutes=30)
WEB_UNSUBSCRIBE_SOURCE = "web"  # the unsubscribe page's own button (not one-click, not staff)
UNDO_CONSENT_SOURCE = "undo-unsubscribe"
UNDO_CONSENT_TEXT = (
    'Pressed "Undo: subscribe me again" on the unsubscribe page right after unsubscribing.'
)


@dataclass(frozen=True)
class LinkUnsubscribe:
    """What an unsubscribe by link did: whether the status changed, and the StatusChange an
    undo may name (only for the page's own button)."""

    changed: bool
    undoable_change: int | None = None


def _run_id(session: Session, slug: str) -> int | None:
    if not slug:
        return None
    return session.scalar(select(CampaignRun.id).where(CampaignRun.slug == slug))


def unsubscribe_by_link(
    session: Session, subscriber: Subscriber, *, campaign: str, one_click: bool
) -> LinkUnsubscribe:
    """Unsubscribe the person a link named (``campaign``: the slug it came in, or ""), and
    record the unsubscribe as a web event of that campaign. Nothing changes for someone
    unsubscribed, bounced or complained already."""
    by = By.ONE_CLICK if one_click else By.WEB_UNSUBSCRIBE
    if not may_move(subscriber.status, SubscriberStatus.UNSUBSCRIBED, by):
        return LinkUnsubscribe(False)
    reason = f"unsubscribed from {campaign}" if campaign else "unsubscribed by link"
    changed = move(
        session,
        subscriber,
        SubscriberStatus.UNSUBSCRIBED,
        by=by,
        reason=reason,
        source="one-click" if one_click else WEB_UNSUBSCRIBE_SOURCE,
    )
    change_id = None
    if changed and not one_click:  # the page's own button: the page offers an undo
        session.flush()
        change_id = session.scalar(
            select(StatusChange.id)
            .where(StatusChange.subscriber_id == subscriber.id)
            .order_by(StatusChange.id.desc())
            .limit(1)
        )
    if changed:
        session.add(
            Event(
                source="web",
                kind=EventKind.UNSUBSCRIBED,
                campaign_id=_run_id(session, campaign),
                subscriber_id=subscriber.id,
                occurred_at=utcnow(),
                raw={"one_click": one_click},
            )
        )
    return LinkUnsubscribe(changed, change_id)


def undo_unsubscribe(
    session: Session,
    subscriber: Subscriber,
    change_id: int,
    *,
    consent_ip: str = "",
    now: datetime | None = None,
) -> bool:
    """Undo the web unsubscribe recorded as StatusChange ``change_id``; False changes nothing.

    Only that change can be undone, only while it is the person's latest, only within
    UNDO_WINDOW, and only if it came from our page's button: staff unsubscribes, one-click and
    provider (SendGrid group) unsubscribes, bounces and complaints are never undone by a link,
    nor is an unsubscribe followed by any suppressing provider event.
    """
    now = now or utcnow()
    latest = session.scalars(
        select(StatusChange)
        .where(StatusChange.subscriber_id == subscriber.id)
        .order_by(StatusChange.id.desc())
        .limit(1)
    ).first()
    if (
        latest is None
        or latest.id != change_id
        or subscriber.status != SubscriberStatus.UNSUBSCRIBED
        or latest.new_status != SubscriberStatus.UNSUBSCRIBED
        or latest.source != WEB_UNSUBSCRIBE_SOURCE
        or now - latest.changed_at > UNDO_WINDOW
    ):
        return False
    suppressed_since = session.scalar(
        select(
            exists().where(
                Event.subscriber_id == subscriber.id,
                Event.kind.in_(EventKind.SUPPRESSING),
                Event.source != "web",
                Event.occurred_at >= latest.changed_at,
            )
        )
    )
    if suppressed_since:
        return False
    return resubscribe(
        session,
        subscriber,
        consent_source=UNDO_CONSENT_SOURCE,
        consent_text=UNDO_CONSENT_TEXT,
        consent_ip=consent_ip,
        reason="resubscribed after unsubscribing",
        source="web",
        by=By.UNDO,
    )
