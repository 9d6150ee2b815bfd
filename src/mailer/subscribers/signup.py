"""Signup with double opt-in: the rules, without the web.

A signup request never makes anyone active. It stores a new address as ``pending`` with the
consent shown (source, IP, wording, time), and answers who should get a confirmation email.
Only the confirmation (``confirm``: the button on the page the emailed link opens, a POST; the
link's GET only shows it, since mail scanners follow links) activates, and re-activates an
address that had unsubscribed or bounced: that press is the new, confirmed consent (a bounced
address that confirms has shown that its mailbox works again).

A complained address (it marked us as spam) never gets an email from the public form, and no
confirmation link can make it active again: only staff can (``mailer subscribers resubscribe``,
with the consent recorded). The form answers it exactly as it answers a new address.

The confirmation token (kind ``k``) carries, besides the subscriber id, the time it was asked
for (in milliseconds) and a short hash of the email key: a link asked for before the person's
latest unsubscribe cannot re-activate them, and a link cannot confirm another person.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import TokenError
from mailer.states import SubscriberStatus
from mailer.store.models import StatusChange, Subscriber
from mailer.subscribers.normalize import email_hash, normalize_email
from mailer.subscribers.service import add_subscriber, find_subscriber, is_hash_suppressed
from mailer.subscribers.status import By, Consent, move_if_still
from mailer.tokens import SecretKey, make_token, read_token

CONFIRM_KIND = "k"
CONSENT_SOURCE = "web form"
CONFIRMED_REASON = "confirmed by email"
RESUBSCRIBED_REASON = "re-subscribed with confirmed consent"
_KEY_HASH_CHARS = 12


def consent_wording(organization_name: str) -> str:
    """The exact sentence next to the checkbox, stored as the consent text."""
    return f"Yes, send me the {organization_name} newsletter. I can unsubscribe at any time."


class Outcome(StrEnum):
    NEW = "new"  # stored as pending: send a confirmation
    PENDING = "pending"  # asked before, not confirmed: send the confirmation again
    SUPPRESSED = "suppressed"  # unsubscribed/bounced: confirmation may re-activate
    COMPLAINED = "complained"  # marked us as spam: send nothing, answer as for a new address
    ACTIVE = "active"  # already subscribed: send nothing
    DELETED = "deleted"  # erased at their request: store and send nothing


@dataclass(frozen=True)
class Person:
    """Who a signup email goes to."""

    subscriber_id: int
    email: str
    email_key: str
    first_name: str


@dataclass(frozen=True)
class SignupResult:
    outcome: Outcome
    person: Person | None = None

    @property
    def send_confirmation(self) -> bool:
        return self.outcome in (Outcome.NEW, Outcome.PENDING, Outcome.SUPPRESSED)


def _person(subscriber: Subscriber) -> Person:
    return Person(subscriber.id, subscriber.email, subscriber.email_key, subscriber.first_name)


def request_signup(
    session: Session, email: str, *, first_name: str, consent_text: str, consent_ip: str
) -> SignupResult:
    """Record a signup request (the caller commits). InvalidAddress for a bad address."""
    address = normalize_email(email)
    if is_hash_suppressed(session, address.key):
        return SignupResult(Outcome.DELETED)
    existing = find_subscriber(session, address.email)
    if existing is None:
        subscriber = add_subscriber(
            session,
            address.email,
            first_name=first_name,
            status=SubscriberStatus.PENDING,
            consent_source=CONSENT_SOURCE,
            consent_ip=consent_ip,
            consent_text=consent_text,
            reason="signed up, waiting for confirmation",
            by=By.SIGNUP,
        )
        return SignupResult(Outcome.NEW, _person(subscriber))
    if existing.status == SubscriberStatus.ACTIVE:
        return SignupResult(Outcome.ACTIVE, _person(existing))
    if existing.status == SubscriberStatus.PENDING:
        if first_name.strip() and not existing.first_name:
            existing.first_name = first_name.strip()
        return SignupResult(Outcome.PENDING, _person(existing))
    if existing.status == SubscriberStatus.COMPLAINED:
        return SignupResult(Outcome.COMPLAINED)
    return SignupResult(Outcome.SUPPRESSED, _person(existing))


def record_signup(
    sessions: sessionmaker[Session],
    email: str,
    *,
    first_name: str,
    consent_text: str,
    consent_ip: str,
) -> SignupResult:
    """``request_signup`` in its own transaction, committed. The same new address sent twice
    at once hits the unique key once: that request is answered again as the second."""
    for attempt in range(2):
        with sessions() as session:
            try:
                result = request_signup(
                    session,
                    email,
                    first_name=first_name,
                    consent_text=consent_text,
                    consent_ip=consent_ip,
                )
                session.commit()
                return result
            except IntegrityError:
                session.rollback()
                if attempt:
                    raise
    raise AssertionError("unreachable")


def confirm_token(key: SecretKey | str | bytes, person: Person, at: float | None = None) -> str:
    """The token of ``/confirm/{token}`` for this person, asked for now (or ``at``, epoch s)."""
    asked_ms = int((time.time() if at is None else at) * 1000)
    tag = f"{asked_ms}:{email_hash(person.email_key)[:_KEY_HASH_CHARS]}"
    return make_token(key, CONFIRM_KIND, person.subscriber_id, tag)


# Tokens made before milliseconds: at most 10 digits of seconds (until the year 2286).
_SECONDS_DIGITS = 10


class Confirmed(StrEnum):
    ACTIVATED = "activated"  # pending -> active: send the welcome email
    REACTIVATED = "reactivated"  # suppressed -> active with new consent: welcome too
    ALREADY = "already"  # active already: nothing changed, no second welcome


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Confirmed
    person: Person

    @property
    def send_welcome(self) -> bool:
        return self.outcome is not Confirmed.ALREADY


def confirmable(session: Session, key: SecretKey | str | bytes, token: str) -> Subscriber:
    """The person a confirmation token may confirm (or has confirmed: they are active); reads
    only. TokenError when the token is bad, made for someone no longer on the list, for a
    complained address, or asked for before their latest unsubscribe (or bounce)."""
    found = read_token(key, token, CONFIRM_KIND)
    asked_text, _, key_hash = found.campaign.partition(":")
    if not asked_text.isdigit() or len(asked_text) > 16:
        raise _not_valid()
    subscriber = session.get(Subscriber, found.subscriber_id)
    if subscriber is None or email_hash(subscriber.email_key)[:_KEY_HASH_CHARS] != key_hash:
        raise _not_valid()
    if subscriber.status == SubscriberStatus.COMPLAINED:
        raise _not_valid()
    if subscriber.status in SubscriberStatus.SUPPRESSED:
        since = _suppressed_since(session, subscriber)
        if since is not None and not _asked_after(asked_text, since):
            raise _not_valid()
    return subscriber


def _asked_after(asked_text: str, since: datetime) -> bool:
    if len(asked_text) <= _SECONDS_DIGITS:  # an older token, in whole seconds
        return int(asked_text) >= int(since.timestamp())
    return int(asked_text) > int(since.timestamp() * 1000)


def confirm(
    session: Session,
    key: SecretKey | str | bytes,
    token: str,
    *,
    consent_text: str,
    ip: str,
) -> ConfirmResult:
    """Activate the person the token was made for (the caller commits); TokenError as
    ``confirmable`` says."""
    subscriber = confirmable(session, key, token)
    old = subscriber.status
    if old == SubscriberStatus.ACTIVE:
        return ConfirmResult(Confirmed.ALREADY, _person(subscriber))
    reactivated = old in SubscriberStatus.SUPPRESSED
    # The click is the new consent: recorded as such when it brings someone back. A
    # conditional update: of two clicks at once only one activates (and sends one welcome).
    changed = move_if_still(
        session,
        subscriber,
        SubscriberStatus.ACTIVE,
        by=By.CONFIRM,
        reason=RESUBSCRIBED_REASON if reactivated else CONFIRMED_REASON,
        source="web",
        consent=Consent(CONSENT_SOURCE, consent_text, ip) if reactivated else None,
    )
    if not changed:
        return ConfirmResult(Confirmed.ALREADY, _person(subscriber))
    outcome = Confirmed.REACTIVATED if reactivated else Confirmed.ACTIVATED
    return ConfirmResult(outcome, _person(subscriber))


def _suppressed_since(session: Session, subscriber: Subscriber) -> datetime | None:
    """When the subscriber last entered a suppressed status; None if unknown."""
    return session.scalar(
        select(StatusChange.changed_at)
        .where(
            StatusChange.subscriber_id == subscriber.id,
            StatusChange.new_status.in_(SubscriberStatus.SUPPRESSED),
        )
        .order_by(StatusChange.id.desc())
        .limit(1)
    )


def _not_valid() -> TokenError:
    return TokenError(
        "this confirmation link is not valid any more",
        hint="sign up again to get a new confirmation email",
    )
