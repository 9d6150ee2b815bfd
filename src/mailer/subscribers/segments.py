"""Who a campaign goes to: active subscribers, filtered by tags, streamable in id order.

Delivery walks the audience in batches by subscriber id::

    after = 0
    query = audience_query(campaign.audience, after_id=after, limit=500)
    while batch := session.scalars(query).all():  # (rebuild the query with the new after_id)
        ...
        after = batch[-1].id
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from mailer.states import SubscriberStatus
from mailer.store.models import Subscriber, SubscriberTag
from mailer.subscribers.normalize import normalize_tag
from mailer.subscribers.service import is_suppressed

__all__ = ["audience_count", "audience_query", "is_suppressed", "iter_audience"]


@dataclass
class Audience:
    """Tags to target: any_of (empty means everyone active), none_of excluded."""

    any_of: list[str] = field(default_factory=list)
    none_of: list[str] = field(default_factory=list)


def _tags(tags: list[str]) -> list[str]:
    return sorted({tag for tag in (normalize_tag(t) for t in tags) if tag})


def _filtered(query: Select[Subscriber], audience: Audience | None) -> Select[Subscriber]:
    query = query.where(Subscriber.status == SubscriberStatus.ACTIVE)
    if audience is None:
        return query
    if any_of := _tags(audience.any_of):
        query = query.where(
            exists().where(
                SubscriberTag.subscriber_id == Subscriber.id, SubscriberTag.tag.in_(any_of)
            )
        )
    if none_of := _tags(audience.none_of):
        query = query.where(
            ~exists().where(
                SubscriberTag.subscriber_id == Subscriber.id, SubscriberTag.tag.in_(none_of)
            )
        )
    return query


def audience_query(
    audience: Audience | None = None, *, after_id: int = 0, limit: int | None = None
) -> Select[Subscriber]:
    """Active subscribers with any of ``any_of`` (empty: everyone) and none of ``none_of``.

    Ordered by id, only ids above ``after_id``, at most ``limit``.
    """
    query = _filtered(select(Subscriber), audience).where(Subscriber.id > after_id)
    query = query.order_by(Subscriber.id)
    if limit is not None:
        query = query.limit(limit)
    return query


def audience_count(session: Session, audience: Audience | None = None) -> int:
    subquery = _filtered(select(Subscriber), audience).subquery()
    return int(session.scalar(select(func.count()).select_from(subquery)) or 0)


def iter_audience(
    session: Session, audience: Audience | None = None, *, batch_size: int = 1_000
) -> Iterator[list[Subscriber]]:
    """The audience in batches of subscribers, by id."""
    after = 0
    while True:
        batch = list(session.scalars(audience_query(audience, after_id=after, limit=batch_size)))
        if not batch:
            return
        yield batch
        after = batch[-1].id
