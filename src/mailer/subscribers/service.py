"""One subscriber at a time: add, find, unsubscribe, resubscribe, delete.

Every status change goes through subscribers.status (the transition table), which writes a
StatusChange row. Deleting erases the person and keeps only the
sha256 of their email key in `suppressions`, so the address is never mailed or imported again;
their bookings keep only the anonymous count.

Bringing someone back after an unsubscribe, bounce or complaint always records new consent
(``resubscribe``): staff with the person's words, or the person's own "undo" press on our
unsubscribe page (subscribers.unsubscribe.undo_unsubscribe).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from mailer.errors import InputError, UsageError
from mailer.states import SubscriberStatus
from mailer.store.booking_models import Booking
from mailer.store.models import (
    StatusChange,
    Subscriber,
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
from mailer.subscribers.status import By, Consent, check_new, move, record_new


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


def resubscribe(
    session: Session,
    subscriber: Subscriber,
    *,
    consent_source: str,
    consent_text: str,
    consent_ip: str = "",
    reason: str,
    source: str,
    by: By = By.STAFF,
) -> bool:
    """Make the subscriber active again with this new consent recorded (source, time, IP,
    wording) and a history row; False (nothing written) if they are active already.
    ``by``: staff (from any status) or the undo on our unsubscribe page (only from
    unsubscribed); StatusRefused for anything else (see subscribers.status)."""
    return move(
        session,
        subscriber,
        SubscriberStatus.ACTIVE,
        by=by,
        reason=reason,
        source=source,
        consent=Consent(consent_source, consent_text, consent_ip),
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
    by: By = By.STAFF,
) -> Subscriber:
    """A new subscriber with consent recorded now. InputError if on the list or ever deleted;
    StatusRefused if ``by`` may not add someone with this status (see subscribers.status)."""
    check_new(status, by)
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
    record_new(session, subscriber, by=by, reason=reason, source=consent_source)
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
    """Staff mark the address unsubscribed; (subscriber, whether anything changed)."""
    subscriber = require_subscriber(session, email)
    changed = move(
        session,
        subscriber,
        SubscriberStatus.UNSUBSCRIBED,
        by=By.STAFF,
        reason=reason,
        source=source,
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
    _erase_bookings(session, subscriber_id, email_hash(address.key))
    suppress_hash(session, address.key, "deleted")
    return subscriber_id is not None


def _erase_bookings(session: Session, subscriber_id: int | None, digest: str) -> None:
    """Their bookings (as subscriber, or by address) keep only the anonymous count: campaign,
    place, article, state. (Booked by someone never on the list, too: the request holds.)"""
    mine = Booking.email_hash == digest
    if subscriber_id is not None:
        mine = or_(mine, Booking.subscriber_id == subscriber_id)
    session.execute(
        update(Booking).where(mine).values(subscriber_id=None, email_hash=None, params={})
    )


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
