"""HMAC-SHA256 webhook signatures, checked over the raw body before anything is parsed.

Two forms:

- ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` (Calendly's
  ``Calendly-Webhook-Signature``, and mailer's own ``Mailer-Webhook-Signature`` for
  /webhooks/booking). A time more than MAX_SKEW_SECONDS from now is refused even when signed
  (a replay, or a clock that is wrong); several ``v1=`` entries are allowed (a key being
  rotated), one matching is enough.
- a bare hex HMAC-SHA256 of the raw body (Cal.com's ``X-Cal-Signature-256``). It carries no
  time, so a captured request can be sent again: the store makes that change nothing (a
  booking is recognized by its id, and a cancellation is never undone).

Comparisons are constant-time; the reasons given never include the secret or the expected value.
"""

from __future__ import annotations

import hashlib
import hmac

from mailer.bookings.model import SignatureError

MAX_SKEW_SECONDS = 180  # three minutes either way, as Calendly's documentation advises
MAX_HEADER_CHARS = 1024
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def hmac_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def timestamped_header(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``t=...,v1=...`` header value for ``body`` signed at ``timestamp`` (for a sender)."""
    return f"t={timestamp},v1={hmac_hex(secret, str(timestamp).encode() + b'.' + body)}"


def verify_timestamped(secret: bytes, header: str | None, body: bytes, now: float) -> None:
    """Return if ``header`` is a valid ``t=,v1=`` signature of ``body`` made within
    MAX_SKEW_SECONDS of ``now``; raise SignatureError saying what is wrong otherwise."""
    if not header:
        raise SignatureError("no signature header")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError("malformed signature header (too long)")
    stamp = ""
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            stamp = value.strip()
        elif name == "v1":
            signatures.append(value.strip())
    # isascii: str.isdigit() is also true of '²' or '١', which int() reads differently.
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12 or not signatures:
        raise SignatureError("malformed signature header (expected t=<unix time>,v1=<hex>)")
    age = now - int(stamp)
    if age > MAX_SKEW_SECONDS:
        raise SignatureError(f"signature timestamp is more than {MAX_SKEW_SECONDS} s old")
    if age < -MAX_SKEW_SECONDS:
        raise SignatureError(f"signature timestamp is more than {MAX_SKEW_SECONDS} s ahead")
    expected = hmac_hex(secret, stamp.encode("ascii") + b"." + body)
    if not any(_same_hex(expected, candidate) for candidate in signatures):
        raise SignatureError("signature does not match (wrong key, or the body was changed)")


def verify_hex(secret: bytes, header: str | None, body: bytes, now: float) -> None:
    """Return if ``header`` is the hex HMAC-SHA256 of ``body``; raise SignatureError otherwise.
    (``now`` is unused: this form has no time; the signature matches verify_timestamped's.)"""
    del now
    if not header:
        raise SignatureError("no signature header")
    value = header.strip()
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError("malformed signature header (too long)")
    if not _same_hex(hmac_hex(secret, body), value.removeprefix("sha256=")):
        raise SignatureError("signature does not match (wrong key, or the body was changed)")


def _same_hex(expected: str, candidate: str) -> bool:
    if len(candidate) != len(expected) or not _HEX_DIGITS.issuperset(candidate):
        return False
    return hmac.compare_digest(expected, candidate.lower())
