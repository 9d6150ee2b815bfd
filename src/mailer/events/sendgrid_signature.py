"""SendGrid's signed Event Webhook: ECDSA P-256 over ``timestamp + raw body``, SHA-256.

Done as the official ``sendgrid.helpers.eventwebhook.EventWebhook`` does it (the public key is
base64 DER SubjectPublicKeyInfo, the signature base64 DER), but over the raw body *bytes* (the
helper re-encodes a str, which breaks on any body that is not exactly UTF-8 text), accepting a PEM
key too, and with replay protection: a timestamp far from now is refused even when signed.
"""

from __future__ import annotations

import base64
import binascii
import time
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600  # older than this: a replay
MAX_FUTURE_SECONDS = 300  # clock skew allowed the other way
MAX_SIGNATURE_CHARS = 256  # a base64 DER P-256 signature is about 96


class KeyConfigError(Exception):
    """The configured public key is missing or unusable (the operator must fix settings)."""


class SignatureError(Exception):
    """The request is not proven to come from SendGrid now; the message says why."""


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
