"""A subscriber's status: THE transition table, and the only code that writes the status.

The ladder: ``pending`` (asked, not confirmed) and ``active`` are mailed-to states (only active
is mailed); ``unsubscribed`` < ``bounced`` < ``complained`` are suppressions. A suppression
only ever climbs the ladder on its own (a bounce after an unsubscribe, a complaint after a
bounce), never back down, and never back to the list, except by a new consent: the person's
confirmed signup (not after a complaint), their undo on our unsubscribe page (only from
unsubscribed), or staff recording how the person asked to come back. An import never revives
anyone and changes an existing person only to a suppression its file states.

``TRANSITIONS`` lists every allowed (from, to, by) move; anything else is refused. ``by`` says
who or what asks (``By``); ``from`` None is a new subscriber. ``may_move`` is the pure question
(the bulk import asks it row by row); ``move`` (one person, through the ORM), ``move_if_still``
(a conditional UPDATE: of two confirmation clicks at once only one moves) and ``move_many``
(the import's executemany) are the only writers of ``Subscriber.status``, each with its
StatusChange history row. tests/subscribers/test_subscriber_status.py holds the whole table and
checks that no other module writes the status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, update
from sqlalchemy.orm import Session

from mailer.errors import InputError
from mailer.states import SubscriberStatus
from mailer.store.models import StatusChange, Subscriber, utcnow


class By(StrEnum):
    """Who or what asks for a status change."""

    SIGNUP = "signup"  # the public signup form: a new address, pending
    CONFIRM = "confirm"  # the button behind the emailed confirmation link (new consent)
    STAFF = "staff"  # `mailer subscribers add/unsubscribe/resubscribe` (resubscribe: consent)
    IMPORT = "import"  # a CSV row (a Status column, a Mailchimp unsubscribed/cleaned export)
    WEB_UNSUBSCRIBE = "web-unsubscribe"  # the unsubscribe page's own button
    ONE_CLICK = "one-click"  # RFC 8058 List-Unsubscribe=One-Click POST
    UNDO = "undo-unsubscribe"  # the undo on the page right after a web unsubscribe (consent)
    PROVIDER = "provider"  # SendGrid events: bounce, spam report, unsubscribe, group unsubscribe
    SMTP_BOUNCE = "smtp-bounce"  # an SMTP server refused the address for good while we sent


PENDING = SubscriberStatus.PENDING
ACTIVE = SubscriberStatus.ACTIVE
UNSUBSCRIBED = SubscriberStatus.UNSUBSCRIBED
BOUNCED = SubscriberStatus.BOUNCED
COMPLAINED = SubscriberStatus.COMPLAINED

# How strong a suppression is: a provider's event only ever moves a person up.
RANK: dict[str, int] = {PENDING: 0, ACTIVE: 0, UNSUBSCRIBED: 1, BOUNCED: 2, COMPLAINED: 3}

_EVERY = (PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED)
_LISTED = (PENDING, ACTIVE)


def _climbs(by: By, to: Sequence[str]) -> set[tuple[str | None, str, By]]:
    """A suppression event: from any lower rung up to each status in ``to``."""
    return {(old, new, by) for new in to for old in _EVERY if RANK[old] < RANK[new]}


TRANSITIONS: frozenset[tuple[str | None, str, By]] = frozenset(
    {
        # New people.
        (None, PENDING, By.SIGNUP),
        *((None, status, By.STAFF) for status in _EVERY),  # add, with a known state
        *((None, status, By.IMPORT) for status in _EVERY),  # as the file says
        # Confirmed consent: the confirmation button; not after a complaint.
        (PENDING, ACTIVE, By.CONFIRM),
        (UNSUBSCRIBED, ACTIVE, By.CONFIRM),
        (BOUNCED, ACTIVE, By.CONFIRM),
        # Staff: resubscribe with the person's consent, from anything; unsubscribe anyone
        # (today's `mailer subscribers unsubscribe` also relabels a bounce or a complaint).
        *((old, ACTIVE, By.STAFF) for old in (PENDING, UNSUBSCRIBED, BOUNCED, COMPLAINED)),
        *((old, UNSUBSCRIBED, By.STAFF) for old in (PENDING, ACTIVE, BOUNCED, COMPLAINED)),
        # The person's own links: unsubscribe while listed; undo only an unsubscribe.
        *((old, UNSUBSCRIBED, By.WEB_UNSUBSCRIBE) for old in _LISTED),
        *((old, UNSUBSCRIBED, By.ONE_CLICK) for old in _LISTED),
        (UNSUBSCRIBED, ACTIVE, By.UNDO),
        # An import takes a listed person off as its file says; never back on.
        *((old, new, By.IMPORT) for old in _LISTED for new in SubscriberStatus.SUPPRESSED),
        # Providers: only up the ladder.
        *_climbs(By.PROVIDER, SubscriberStatus.SUPPRESSED),
        *_climbs(By.SMTP_BOUNCE, (BOUNCED,)),
    }
)


class StatusRefused(InputError):
    """A status change the transition table does not allow."""


def may_move(old: str | None, new: str, by: By) -> bool:
    """True if ``by`` may change a status ``old`` (None: a new subscriber) to ``new``. A status
    that stays the same is no move (False)."""
    return (old, new, by) in TRANSITIONS


def _needs_consent(old: str | None, new: str) -> bool:
    return old in SubscriberStatus.SUPPRESSED and new == ACTIVE


def check(old: str | None, new: str, by: By) -> None:
    """StatusRefused unless the table allows the move."""
    if new not in SubscriberStatus.ALL:
        raise StatusRefused(
            f"unknown status {new!r}", hint=f"use one of {', '.join(SubscriberStatus.ALL)}"
        )
    if not may_move(old, new, by):
        was = "a new subscriber" if old is None else old
        raise StatusRefused(
            f"{by} may not change {was} to {new}",
            hint="a bounce or complaint comes back only with new consent "
            '(mailer subscribers resubscribe EMAIL --consent "how they asked")',
        )


@dataclass(frozen=True)
class Consent:
    """New consent that comes with a move back to active: where, the wording, the IP."""

    source: str
    text: str
    ip: str = ""

    def values(self, at: datetime) -> dict[str, Any]:
        return {
            "consent_source": self.source[:100],
            "consent_at": at,
            "consent_ip": self.ip[:64],
            "consent_text": self.text,
        }


def _history(sid: int, old: str | None, new: str, reason: str, source: str) -> dict[str, Any]:
    return {
        "subscriber_id": sid,
        "old_status": old,
        "new_status": new,
        "reason": reason[:200],
        "source": source[:100],
    }


def _check_consent(old: str | None, new: str, consent: Consent | None) -> None:
    if _needs_consent(old, new) and consent is None:
        raise StatusRefused(
            f"bringing back a {old} address needs the person's new consent",
            hint='record it, e.g. mailer subscribers resubscribe EMAIL --consent "how they asked"',
        )


def move(
    session: Session,
    subscriber: Subscriber,
    new: str,
    *,
    by: By,
    reason: str,
    source: str,
    consent: Consent | None = None,
) -> bool:
    """Change the status as the table allows and record why (``source``: the history's
    "through what"); False (nothing written) if it has that status already. StatusRefused for
    a move the table refuses, or a move back to active from a suppression without consent."""
    old = subscriber.status
    if old == new:
        return False
    check(old, new, by)
    _check_consent(old, new, consent)
    now = utcnow()
    session.add(StatusChange(**_history(subscriber.id, old, new, reason, source), changed_at=now))
    subscriber.status = new
    subscriber.updated_at = now
    if consent is not None:
        for name, value in consent.values(now).items():
            setattr(subscriber, name, value)
    return True


def move_if_still(
    session: Session,
    subscriber: Subscriber,
    new: str,
    *,
    by: By,
    reason: str,
    source: str,
    consent: Consent | None = None,
) -> bool:
    """``move`` as one conditional UPDATE: only if the status is still what ``subscriber``
    shows. Of two requests at once only one moves (True); the other writes nothing (False).
    ``subscriber`` is expired afterwards (read it again)."""
    old = subscriber.status
    if old == new:
        return False
    check(old, new, by)
    _check_consent(old, new, consent)
    now = utcnow()
    values: dict[str, Any] = {"status": new, "updated_at": now}
    if consent is not None:
        values |= consent.values(now)
    result = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id, Subscriber.status == old)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(cast("CursorResult[Any]", result).rowcount)
    if changed:
        session.add(
            StatusChange(**_history(subscriber.id, old, new, reason, source), changed_at=now)
        )
    session.expire(subscriber)
    return changed


@dataclass(frozen=True)
class Move:
    """One row's move in a bulk write (the import)."""

    subscriber_id: int
    old: str
    new: str
    reason: str


def move_many(
    session: Session, moves: Sequence[Move], *, by: By, source: str, now: datetime
) -> list[dict[str, Any]]:
    """The status UPDATEs of a bulk write, as one executemany; StatusRefused (nothing written)
    if the table refuses any. Returns their history rows (without ``changed_at``) for the
    caller to insert with its own."""
    for item in moves:
        check(item.old, item.new, by)
    if not moves:
        return []
    table = cast(Table, Subscriber.__table__)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), updated_at=bindparam("b_updated_at"))
        .execution_options(synchronize_session=False),
        [{"b_id": m.subscriber_id, "b_status": m.new, "b_updated_at": now} for m in moves],
    )
    return [_history(m.subscriber_id, m.old, m.new, m.reason, source) for m in moves]


def check_new(status: str, by: By) -> None:
    """StatusRefused unless ``by`` may add a subscriber with this status."""
    check(None, status, by)


def record_new(
    session: Session, subscriber: Subscriber, *, by: By, reason: str, source: str
) -> None:
    """The history row of a subscriber just added (flushed, with an id) with its status."""
    check_new(subscriber.status, by)
    session.add(
        StatusChange(
            **_history(subscriber.id, None, subscriber.status, reason, source),
            changed_at=subscriber.created_at,
        )
    )
