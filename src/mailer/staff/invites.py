"""One-time set-password links: ``<web.base_url>/staff/welcome/<token>``, valid 24 hours.

`mailer staff add` and `mailer staff reset` make one; the person opens it, chooses a password,
and the link is spent. The token is signed with the key policy of mailer.tokens (kind ``w``),
names the account id and carries a random secret; the account row keeps only the secret's
sha256 and its expiry. So a link is refused when it was altered or signed with another key,
when it is older than 24 hours, once it was used (the hash is cleared), and when a newer link
replaced it (`reset` stores a new hash). Opening the link (GET) only reads: mail scanners
follow links.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailer.errors import TokenError
from mailer.staff.accounts import set_password
from mailer.store.staff_models import StaffAccount
from mailer.tokens import SecretKey, make_token, read_token

KIND_WELCOME = "w"
LINK_VALID = timedelta(hours=24)
PATH = "/staff/welcome/"


def issue(session: Session, account: StaffAccount, key: SecretKey, *, now: datetime) -> str:
    """A new one-time link's token for the account; any earlier link stops working."""
    secret = secrets.token_urlsafe(18)
    account.invite_hash = _digest(secret)
    account.invite_expires_at = now + LINK_VALID
    session.flush()
    return make_token(key, KIND_WELCOME, account.id, secret)


def url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}{token}"


def check(session: Session, key: SecretKey, token: str, *, now: datetime) -> StaffAccount:
    """The account this link may set a password for; TokenError when it may not. Reads only."""
    try:
        found = read_token(key, token, KIND_WELCOME)
    except TokenError:
        raise _not_valid() from None
    account = session.get(StaffAccount, found.subscriber_id)
    if (
        account is None
        or not account.invite_hash
        or not hmac.compare_digest(account.invite_hash, _digest(found.campaign))
    ):
        raise _not_valid()
    if account.invite_expires_at is None or account.invite_expires_at <= now:
        raise TokenError(
            "this set-password link has expired (links are valid for 24 hours)",
            hint=f"ask an owner for a new one: mailer staff reset {account.email}",
        )
    return account


def redeem(
    session: Session, key: SecretKey, token: str, password: str, *, now: datetime
) -> StaffAccount:
    """Set the password through the link and spend it (TokenError for a bad link, InputError
    for a weak password: nothing changes then). Every session of the account ends."""
    account = check(session, key, token, now=now)
    set_password(session, account, password, now=now)  # also clears the link's hash
    return account


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _not_valid() -> TokenError:
    return TokenError(
        "this set-password link is not valid any more (it was used already, a newer one "
        "replaced it, or it was not copied whole)",
        hint="ask an owner for a new one (`mailer staff reset YOUR-ADDRESS`), or sign in if "
        "you have set your password",
    )
