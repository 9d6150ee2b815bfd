"""One subscriber at a time: add, find, change status (with history), unsubscribe, delete.

Every status change writes a StatusChange row. Deleting erases the person and keeps only the
sha256 of their email key in `suppressions`, so the address is never mailed or imported again.

Bringing someone back after an unsubscribe, bounce or complaint always records new consent
(``resubscribe``): staff with the person's words, or the person's own "undo" press on our
unsubscribe page within ``UNDO_WINDOW`` of that unsubscribe (``undo_unsubscribe``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.orm import Session

from mailer.errors import InputError, UsageError
from mailer.store.models import (
    Event,
    EventKind,
    StatusChange,
    Subscriber,
    SubscriberStatus,
    SubscriberTag,
    Suppression,
    utcnow,
)
from mailer.subscribers.normalize import (
    MAX_NAME,
    MAX_TAG,
    Address,
    InvalidAddress,
    email_hash,
    guess_key,
    normalize_email,
    normalize_tag,
)


def parse_address(email: str) -> Address:
    """Validate an address given by a person; InputError with email-validator's reason."""
    try:
        return normalize_email(email)
    except InvalidAddress as err:
        raise InputError(
            f"{email!r} is not a usable email address: {err}",
            hint="check the spelling, e.g. name@example.com",
        ) from err


def _key_of(email: str) -> str:
    try:
        return normalize_email(email).key
    except InvalidAddress:
        return guess_key(email)


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalars(select(Subscriber).where(Subscriber.email_key == _key_of(email))).first()


def is_hash_suppressed(session: Session, key: str) -> bool:
    return bool(session.scalar(select(exists().where(Suppression.email_hash == email_hash(key)))))


def is_suppressed(session: Session, email: str) -> bool:
    """True if this address must not be mailed: unsubscribed, bounced, complained or deleted."""
    key = _key_of(email)
    status = session.scalar(select(Subscriber.status).where(Subscriber.email_key == key))
    if status in SubscriberStatus.SUPPRESSED:
        return True
    return is_hash_suppressed(session, key)


def set_status(
    session: Session, subscriber: Subscriber, status: str, *, reason: str, source: str
) -> bool:
    """Change the status and record why; False (nothing written) if it already has it."""
    if status not in SubscriberStatus.ALL:
        raise UsageError(
            f"unknown status {status!r}", hint=f"use one of {', '.join(SubscriberStatus.ALL)}"
        )
    if subscriber.status == status:
        return False
    session.add(
        StatusChange(
            subscriber_id=subscriber.id,
            old_status=subscriber.status,
            new_status=status,
            reason=reason[:200],
            source=source[:100],
            changed_at=utcnow(),
        )
    )
    subscriber.status = status
    subscriber.updated_at = utcnow()
    return True


# How long the page shown right after a web unsubscribe may undo it: long enough to notice a
# mis-click, short enough that an old or forwarded email cannot revive anyone.
UNDO_WINDOW = timedelta(minutes=30)
WEB_UNSUBSCRIBE_SOURCE = "web"  # the unsubscribe page's own button (not one-click, not staff)
UNDO_CONSENT_SOURCE = "undo-unsubscribe"
UNDO_CONSENT_TEXT = (
    'Pressed "Undo: subscribe me again" on the unsubscribe page right after unsubscribing.'
)


def resubscribe(
    session: Session,
    subscriber: Subscriber,
    *,
    consent_source: str,
    consent_text: str,
    consent_ip: str = "",
    reason: str,
    source: str,
) -> bool:
    """Make the subscriber active again with this new consent recorded (source, time, IP,
    wording) and a history row; False (nothing written) if they are active already."""
    if not set_status(session, subscriber, SubscriberStatus.ACTIVE, reason=reason, source=source):
        return False
    subscriber.consent_source = consent_source[:100]
    subscriber.consent_at = utcnow()
    subscriber.consent_ip = consent_ip[:64]
    subscriber.consent_text = consent_text
    return True


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
    )


def _check_name(value: str, what: str) -> str:
    value = value.strip()
    if len(value) > MAX_NAME:
        raise InputError(f"{what} is too long ({len(value)} characters, at most {MAX_NAME})")
    return value


def clean_tags(tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in tags:
        tag = normalize_tag(raw)
        if len(tag) > MAX_TAG:
            raise InputError(f"tag {tag[:40]!r}... is too long (at most {MAX_TAG} characters)")
        if tag and tag not in out:
            out.append(tag)
    return out


def add_subscriber(
    session: Session,
    email: str,
    *,
    first_name: str = "",
    last_name: str = "",
    tags: Iterable[str] = (),
    attributes: dict[str, Any] | None = None,
    status: str = SubscriberStatus.ACTIVE,
    consent_source: str = "manual",
    consent_ip: str = "",
    consent_text: str = "",
    reason: str = "added by hand",
) -> Subscriber:
    """A new subscriber with consent recorded now. InputError if on the list or ever deleted."""
    address = parse_address(email)
    existing = find_subscriber(session, address.email)
    if existing is not None:
        raise InputError(
            f"{address.email} is already on the list (status {existing.status})",
            hint="see it with `mailer subscribers list --json`; to bring back someone who "
            'unsubscribed: mailer subscribers resubscribe EMAIL --consent "how they asked"',
        )
    if is_hash_suppressed(session, address.key):
        raise InputError(
            f"{address.email} was deleted from the list at their request and cannot be added back",
        )
    now = utcnow()
    subscriber = Subscriber(
        email=address.email,
        email_key=address.key,
        first_name=_check_name(first_name, "first name"),
        last_name=_check_name(last_name, "last name"),
        status=status,
        attributes=dict(attributes or {}),
        consent_source=consent_source[:100],
        consent_at=now,
        consent_ip=consent_ip[:64],
        consent_text=consent_text,
        created_at=now,
        updated_at=now,
    )
    subscriber.tags = [SubscriberTag(tag=tag) for tag in clean_tags(tags)]
    session.add(subscriber)
    session.flush()
    session.add(
        StatusChange(
            subscriber_id=subscriber.id,
            old_status=None,
            new_status=status,
            reason=reason[:200],
            source=consent_source[:100],
            changed_at=now,
        )
    )
    return subscriber


def require_subscriber(session: Session, email: str) -> Subscriber:
    subscriber = find_subscriber(session, email)
    if subscriber is None:
        raise InputError(
            f"{email} is not on the list",
            hint="check the address with `mailer subscribers list`",
        )
    return subscriber


def unsubscribe(
    session: Session, email: str, *, reason: str = "unsubscribed by staff", source: str = "cli"
) -> tuple[Subscriber, bool]:
    """Mark the address unsubscribed; (subscriber, whether anything changed)."""
    subscriber = require_subscriber(session, email)
    changed = set_status(
        session, subscriber, SubscriberStatus.UNSUBSCRIBED, reason=reason, source=source
    )
    return subscriber, changed


def suppress_hash(session: Session, key: str, reason: str) -> None:
    """Remember the key's hash as never to be mailed (idempotent)."""
    digest = email_hash(key)
    if session.get(Suppression, digest) is None:
        session.add(Suppression(email_hash=digest, reason=reason[:50], created_at=utcnow()))


def delete_subscriber(session: Session, email: str) -> bool:
    """Erase the person's data, keep the hash. True if they were on the list.

    An address that was not on the list is still suppressed: the request "never write to me"
    holds either way.
    """
    address = parse_address(email)
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email_key == address.key))
    if subscriber_id is not None:
        session.execute(delete(SubscriberTag).where(SubscriberTag.subscriber_id == subscriber_id))
        session.execute(delete(StatusChange).where(StatusChange.subscriber_id == subscriber_id))
        session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
        session.expunge_all()
    suppress_hash(session, address.key, "deleted")
    return subscriber_id is not None


def subscriber_record(subscriber: Subscriber) -> dict[str, Any]:
    """A subscriber as plain data (for --json and export)."""
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "first_name": subscriber.first_name,
        "last_name": subscriber.last_name,
        "status": subscriber.status,
        "tags": subscriber.tag_names,
        "attributes": dict(subscriber.attributes or {}),
        "consent_source": subscriber.consent_source,
        "consent_at": subscriber.consent_at.isoformat() if subscriber.consent_at else None,
        "consent_ip": subscriber.consent_ip,
        "created_at": subscriber.created_at.isoformat(),
    }


def list_query(status: str | None = None, tag: str | None = None) -> Select[Subscriber]:
    """Subscribers by id, optionally of one status and/or carrying one tag."""
    query = select(Subscriber).order_by(Subscriber.id)
    if status is not None:
        if status not in SubscriberStatus.ALL:
            raise UsageError(
                f"unknown status {status!r}",
                hint=f"use one of {', '.join(SubscriberStatus.ALL)}",
            )
        query = query.where(Subscriber.status == status)
    if tag is not None:
        query = query.where(
            exists().where(
                SubscriberTag.subscriber_id == Subscriber.id,
                SubscriberTag.tag == normalize_tag(tag),
            )
        )
    return query
