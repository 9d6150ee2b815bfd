"""The signature check agrees with SendGrid's own helper, takes the key as SendGrid shows it or
as PEM, and refuses what it should."""

from __future__ import annotations

import base64
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sendgrid.helpers.eventwebhook import EventWebhook

from mailer.events.sources.sendgrid import (
    KeyConfigError,
    SignatureError,
    load_public_key,
    verify,
)

BODY = b'[{"email":"a@example.com","event":"open","sg_event_id":"e1","timestamp":1}]\r\n'


def key_pair() -> tuple[ec.EllipticCurvePrivateKey, str, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, base64.b64encode(der).decode(), pem


def sign(private: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def test_agrees_with_the_official_sendgrid_helper() -> None:
    private, sendgrid_text, pem = key_pair()
    stamp = str(int(time.time()))
    signature = sign(private, stamp, BODY)
    official = EventWebhook(sendgrid_text)
    assert official.verify_signature(BODY.decode(), signature, stamp) is True
    verify(load_public_key(sendgrid_text), signature, stamp, BODY)
    verify(load_public_key(pem), signature, stamp, BODY)
    tampered = BODY.replace(b"open", b"click")
    assert official.verify_signature(tampered.decode(), signature, stamp) is False
    with pytest.raises(SignatureError, match="does not match"):
        verify(load_public_key(sendgrid_text), signature, stamp, tampered)


def test_replay_window() -> None:
    private, text, _ = key_pair()
    key = load_public_key(text)
    now = 1_800_000_000.0
    for offset in (-599, 0, 299):
        stamp = str(int(now + offset))
        verify(key, sign(private, stamp, BODY), stamp, BODY, now=now)
    for offset, why in ((-601, "too old"), (301, "future")):
        stamp = str(int(now + offset))
        with pytest.raises(SignatureError, match=why):
            verify(key, sign(private, stamp, BODY), stamp, BODY, now=now)


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [(None, "1"), ("", "1"), ("abc", None), ("abc", "-5"), ("abc", "1.5"), ("x" * 300, "1")],
)
def test_missing_or_malformed_headers(signature: str | None, timestamp: str | None) -> None:
    _, text, _ = key_pair()
    with pytest.raises(SignatureError):
        verify(load_public_key(text), signature, timestamp, BODY)


@pytest.mark.parametrize("digits", ["١٧٠٠٠٠٠٠٠٠", "1800000000²", "１８０００００００００"])
def test_a_timestamp_of_non_ascii_digits_is_refused(digits: str) -> None:
    """Issue 10 item 18: str.isdigit() is true of Arabic-Indic, superscript and full-width
    digits; such a timestamp (as a server that decodes headers as UTF-8 hands it over) raised
    UnicodeEncodeError or ValueError, a 500. It is a SignatureError (a 403)."""
    private, text, _ = key_pair()
    now = 1_800_000_000.0
    signature = sign(private, str(int(now)), BODY)
    with pytest.raises(SignatureError, match="malformed"):
        verify(load_public_key(text), signature, digits, BODY, now=now)


def test_unusable_keys_are_configuration_errors() -> None:
    rsa_der = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for text in ("", "   ", "not-a-key", base64.b64encode(b"junk").decode(), "-----BEGIN x"):
        with pytest.raises(KeyConfigError):
            load_public_key(text)
    with pytest.raises(KeyConfigError, match="elliptic"):
        load_public_key(base64.b64encode(rsa_der).decode())
