"""SendGrid's Event Webhook as an EventSource: the signature checked, then its events mapped.

Signature: ECDSA P-256 over ``timestamp + raw body``, SHA-256, as the official
``sendgrid.helpers.eventwebhook.EventWebhook`` checks it (the public key is base64 DER
SubjectPublicKeyInfo, the signature base64 DER), but over the raw body *bytes* (the helper
re-encodes a str, which breaks on any body that is not exactly UTF-8 text), accepting a PEM key
too, and with replay protection: a timestamp far from now is refused even when signed.

Events: a JSON array (sources/json_array.py) of SendGrid event objects, mapped to EventKind with
the raw event kept beside it. SendGrid copies our ``custom_args`` onto every event as top-level
keys: ``subscriber_id`` (per personalization) and ``campaign_slug``/``campaign_id`` (per
message); see delivery/providers/sendgrid.py.

Bounces: SendGrid's ``bounce`` event has ``type`` "bounce" (the receiving server refused the
address for good) or "blocked" (refused for a reason that may pass: reputation, content, a full
mailbox). Only "bounce" maps to BOUNCED and suppresses; "blocked" maps to DROPPED (not delivered,
the address kept). ``dropped`` (SendGrid's own suppression lists) suppresses nothing here either.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from mailer.config import Settings
from mailer.events.sources.base import (
    ParsedBatch,
    PayloadError,
    ProviderEvent,
    SignatureError,
    SourceConfigError,
)
from mailer.events.sources.json_array import parse_batch
from mailer.store.models import EventKind

__all__ = [
    "KeyConfigError",
    "PayloadError",
    "SendGridSource",
    "SignatureError",
    "load_public_key",
    "map_event",
    "parse_batch",
    "read_events",
    "verify",
]

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600  # older than this: a replay
MAX_FUTURE_SECONDS = 300  # clock skew allowed the other way
MAX_SIGNATURE_CHARS = 256  # a base64 DER P-256 signature is about 96

KINDS = {
    "processed": EventKind.PROCESSED,
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.DEFERRED,
    "bounce": EventKind.BOUNCED,
    "dropped": EventKind.DROPPED,
    "open": EventKind.OPENED,
    "click": EventKind.CLICKED,
    "spamreport": EventKind.COMPLAINED,
    "unsubscribe": EventKind.UNSUBSCRIBED,
    "group_unsubscribe": EventKind.UNSUBSCRIBED,
}
# Why an event suppresses, as the subscriber's history shows it.
REASONS = {
    EventKind.BOUNCED: "the address bounced (SendGrid bounce event)",
    EventKind.COMPLAINED: "marked the newsletter as spam (SendGrid spam report)",
    EventKind.UNSUBSCRIBED: "unsubscribed through SendGrid",
}
MAX_ID_CHARS = 200  # Event.source_event_id
MAX_DB_ID = 2**63 - 1


class KeyConfigError(SourceConfigError):
    """sendgrid.webhook_public_key is missing or unusable (the operator must fix settings)."""


class SendGridSource:
    """``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook."""

    name = "sendgrid"

    def __init__(self, public_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self.key = load_public_key(public_key)  # KeyConfigError before any request is read
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridSource:
        return cls(settings.sendgrid.webhook_public_key)

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        verify(
            self.key,
            headers.get(SIGNATURE_HEADER),
            headers.get(TIMESTAMP_HEADER),
            body,
            now=self.clock(),
        )

    def parse(self, body: bytes) -> ParsedBatch:
        decoded = parse_batch(body)
        batch = read_events(decoded.events)
        batch.received, batch.skipped = decoded.received, decoded.skipped
        return batch


@lru_cache(maxsize=8)
def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The key as SendGrid shows it (base64 DER SubjectPublicKeyInfo), or the same in PEM."""
    text = text.strip()
    if not text:
        raise KeyConfigError(
            "sendgrid.webhook_public_key is not set: copy the verification key from SendGrid "
            "(Settings > Mail Settings > Signed Event Webhook) into mailer.toml or "
            "MAILER_SENDGRID__WEBHOOK_PUBLIC_KEY"
        )
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode("ascii"))
        else:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm, UnicodeEncodeError) as err:
        raise KeyConfigError(
            "sendgrid.webhook_public_key is not a valid public key (expected SendGrid's base64 "
            "verification key or a PEM public key)"
        ) from err
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyConfigError("sendgrid.webhook_public_key is not an elliptic-curve (ECDSA) key")
    return key


def verify(
    key: ec.EllipticCurvePublicKey,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: float | None = None,
) -> None:
    """Return if SendGrid signed ``timestamp + body`` recently; raise SignatureError otherwise."""
    if not signature or not timestamp:
        raise SignatureError("missing signature or timestamp header")
    # isascii: str.isdigit() is also true of '²' or '١', which int() or encode('ascii') refuse.
    digits = timestamp.isascii() and timestamp.isdigit()
    if len(signature) > MAX_SIGNATURE_CHARS or len(timestamp) > 20 or not digits:
        raise SignatureError("malformed signature or timestamp header")
    current = time.time() if now is None else now
    age = current - int(timestamp)
    if age > MAX_AGE_SECONDS:
        raise SignatureError("timestamp too old (a replayed request?)")
    if age < -MAX_FUTURE_SECONDS:
        raise SignatureError("timestamp in the future")
    try:
        decoded = base64.b64decode(signature, validate=True)
        key.verify(decoded, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as err:
        raise SignatureError("signature does not match") from err


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_DB_ID else None


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def read_events(objects: Sequence[dict[str, Any]]) -> ParsedBatch:
    """SendGrid event objects (as a verified body holds them, decoded) in our vocabulary."""
    batch = ParsedBatch(SendGridSource.name, [], received=len(objects))
    for raw in objects:
        event = map_event(raw)
        if event is None:
            batch.ignored += 1
        else:
            batch.events.append(event)
    return batch


def map_event(raw: dict[str, Any]) -> ProviderEvent | None:
    """One SendGrid event in our vocabulary, or None for an event type we do not record."""
    kind = KINDS.get(str(raw.get("event", "")))
    if kind is None:
        return None
    if kind == EventKind.BOUNCED and raw.get("type") == "blocked":
        kind = EventKind.DROPPED
    event_id = raw.get("sg_event_id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_ID_CHARS:
        event_id = None
    slug = raw.get("campaign_slug")
    return ProviderEvent(
        kind=kind,
        source_event_id=event_id,
        subscriber_id=_as_id(raw.get("subscriber_id")),
        campaign_id=_as_id(raw.get("campaign_id")),
        campaign_slug=slug[:200] if isinstance(slug, str) else "",
        occurred_at=_as_time(raw.get("timestamp")),
        raw=raw,
        reason=REASONS.get(kind, ""),
    )
