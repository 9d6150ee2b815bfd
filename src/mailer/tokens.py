"""Signed link tokens: click (/c/), unsubscribe (/u/) and any other per-subscriber link.

A token is ``base64url(payload + mac)`` without padding, where the payload is one kind letter,
the subscriber id as a varint and the campaign slug in UTF-8, and the mac is the first 16 bytes
of HMAC-SHA256 over a version prefix and the payload, keyed with MAILER_SECRET_KEY. Tokens never
expire: an unsubscribe link must keep working as long as the address exists.

Click links are ``{web.base_url}/c/{recipient_token}.{link_index}``. The recipient token (kind
``c``) is signed; the link index after the dot is not, so one per-recipient placeholder fills
every link of a message with a single ``str.replace``. That is safe because the redirect target
is looked up by index in the campaign's own stored link list: changing the index can only point
at another link of the same campaign the person was sent, never at another address, and a bad
index is a 404. Forging another subscriber's click needs the key.

Previews (`mailer preview`, `mailer check`) and `send --test-to` copies carry the preview
identity: the kinds ``p`` (click) and ``q`` (unsubscribe) with no subscriber (id 0). Their links
show what would happen and change nothing: ``/u/`` explains, ``/c/`` redirects without counting.

The key policy has one owner, ``signing_key``: without MAILER_SECRET_KEY the public development
key signs only what stays on this computer (previews and checks, which say so, and the outbox
provider's messages and a `mailer serve` on loopback); anything else refuses to start.

After a key rotation, MAILER_SECRET_KEY_PREVIOUS holds the old key: tokens signed with it are
still accepted (links in emails already sent keep working), while every new token is signed
with MAILER_SECRET_KEY only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Literal

from mailer.errors import ConfigError, TokenError
from mailer.workspace import Workspace

MAC_BYTES = 16
_DOMAIN = b"mailer/token/v1\x00"
# One letter per kind, so a token of one kind never passes for another. Also taken:
# "k" (mailer.subscribers.signup's confirmation tokens), "w" (mailer.staff.invites' set-password
# links), "s" and "f" (mailer.web.staff.auth's session and sign-in form cookies), "b"
# (mailer.bookings.refs' click references on booking links).
KIND_CLICK = "c"
KIND_UNSUBSCRIBE = "u"
KIND_UNDO = "r"  # undo of one web unsubscribe, handed out on the page right after it
KIND_PREVIEW_CLICK = "p"
KIND_PREVIEW_UNSUBSCRIBE = "q"
PREVIEW_KINDS = (KIND_PREVIEW_CLICK, KIND_PREVIEW_UNSUBSCRIBE)
_CLICK_BYTE = KIND_CLICK.encode()
_UNSUBSCRIBE_BYTE = KIND_UNSUBSCRIBE.encode()
PREVIEW_SUBSCRIBER_ID = 0  # never a subscriber: ids start at 1 and are never reused
DEVELOPMENT_KEY = "mailer-DEVELOPMENT-key-NOT-SECRET-set-MAILER_SECRET_KEY"


@dataclass(frozen=True)
class SecretKey:
    """The signing key, whether it is the public development stand-in, and the key it replaced
    (accepted when reading tokens, never used to sign)."""

    value: bytes
    development: bool = False
    previous: bytes | None = None

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> SecretKey:
        secret = workspace.secrets.secret_key
        if secret is None or not secret.get_secret_value():
            return cls(DEVELOPMENT_KEY.encode(), development=True)
        old = workspace.secrets.secret_key_previous
        previous = old.get_secret_value().encode() if old and old.get_secret_value() else None
        return cls(secret.get_secret_value().encode(), previous=previous)


Purpose = Literal["send", "serve", "preview"]
KEY_HINT = (
    "export MAILER_SECRET_KEY=\"$(python3 -c 'import secrets; "
    "print(secrets.token_urlsafe(32))')\" and keep it: changing it breaks old links"
)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: reachable from this computer only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def signing_key(workspace: Workspace, purpose: Purpose, *, host: str = "") -> SecretKey:
    """The key every link is signed and checked with; the one key policy of mailer.

    With MAILER_SECRET_KEY set, that key. Without it, the public development key, but only where
    nothing leaves this computer: ``preview`` (previews and checks, which say so), ``send``
    with the outbox provider, ``serve`` with the outbox provider on a loopback ``host``.
    Otherwise ConfigError (exit 2): anyone could forge links signed with a published key.
    """
    key = SecretKey.for_workspace(workspace)
    if not key.development or purpose == "preview":
        return key
    provider = workspace.settings.delivery.provider
    if purpose == "send" and provider != "outbox":
        raise ConfigError(
            "MAILER_SECRET_KEY is not set: unsubscribe and click links cannot be signed",
            hint=KEY_HINT,
        )
    if purpose == "serve" and provider != "outbox":
        raise ConfigError(
            f"MAILER_SECRET_KEY is not set: `mailer serve` with delivery.provider {provider!r} "
            "would email signup links signed with the public development key",
            hint=KEY_HINT,
        )
    if purpose == "serve" and not is_loopback(host):
        raise ConfigError(
            f"MAILER_SECRET_KEY is not set: `mailer serve --host {host}` would accept links "
            "signed with the public development key from other computers (anyone could forge "
            "unsubscribe links); without the key it serves only on 127.0.0.1",
            hint=KEY_HINT,
        )
    return key


@dataclass(frozen=True)
class Token:
    kind: str
    subscriber_id: int
    campaign: str = ""
    link_index: int | None = None

    @property
    def preview(self) -> bool:
        """Made for a preview or test copy: acts on nobody."""
        return self.kind in PREVIEW_KINDS


def make_token(
    key: SecretKey | str | bytes, kind: str, subscriber_id: int, campaign: str = ""
) -> str:
    """A compact signed token for one subscriber (and campaign)."""
    if len(kind) != 1 or not kind.isascii() or not kind.isalpha():
        raise ValueError("token kind is one ASCII letter")
    if subscriber_id < 0:
        raise ValueError("subscriber id must not be negative")
    payload = kind.encode() + _varint(subscriber_id) + campaign.encode("utf-8")
    raw = payload + _mac(_key_bytes(key), payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_token(key: SecretKey | str | bytes, token: str, kind: str | None = None) -> Token:
    """Verify and decode a token; TokenError if it was altered, truncated or signed elsewhere."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _bad_token() from None
    if len(raw) < MAC_BYTES + 2:
        raise _bad_token()
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(_key_bytes(key), payload)) and not (
        isinstance(key, SecretKey)
        and key.previous is not None
        and hmac.compare_digest(mac, _mac(key.previous, payload))
    ):
        raise _bad_token()
    found_kind = chr(payload[0])
    if kind is not None and found_kind != kind:
        raise _bad_token()
    subscriber_id, end = _read_varint(payload, 1)
    try:
        campaign = payload[end:].decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_token() from None
    return Token(kind=found_kind, subscriber_id=subscriber_id, campaign=campaign)


def click_token(key: SecretKey | str | bytes, subscriber_id: int, campaign: str, index: int) -> str:
    """The token of one click link: the recipient's click token, a dot, the link index."""
    return f"{make_token(key, KIND_CLICK, subscriber_id, campaign)}.{index}"


def read_click_token(key: SecretKey | str | bytes, token: str) -> Token:
    """Decode ``/c/{token}`` (a subscriber's or a preview's: see ``Token.preview``); the caller
    still checks link_index against the campaign's links."""
    recipient, dot, index = token.rpartition(".")
    if not dot or not (index.isascii() and index.isdigit()) or len(index) > 6:
        raise _bad_token()
    found = read_token(key, recipient)
    if found.kind not in (KIND_CLICK, KIND_PREVIEW_CLICK):
        raise _bad_token()
    return Token(found.kind, found.subscriber_id, found.campaign, int(index))


def unsubscribe_token(key: SecretKey | str | bytes, subscriber_id: int, campaign: str = "") -> str:
    return make_token(key, KIND_UNSUBSCRIBE, subscriber_id, campaign)


def link_tokens(
    key: SecretKey | str | bytes, subscriber_id: int | None, campaign: str
) -> tuple[str, str]:
    """(click recipient token, unsubscribe token) of one message; ``subscriber_id`` None is
    the preview identity (previews, test copies): links that show and change nothing."""
    if subscriber_id is None:
        return (
            make_token(key, KIND_PREVIEW_CLICK, PREVIEW_SUBSCRIBER_ID, campaign),
            make_token(key, KIND_PREVIEW_UNSUBSCRIBE, PREVIEW_SUBSCRIBER_ID, campaign),
        )
    return (
        make_token(key, KIND_CLICK, subscriber_id, campaign),
        make_token(key, KIND_UNSUBSCRIBE, subscriber_id, campaign),
    )


class LinkSigner:
    """The tokens ``link_tokens`` makes, for many subscribers of one campaign: the key's HMAC
    state and the campaign's bytes are prepared once, each token copies them. A send signs two
    tokens per recipient; this is about 3 µs each, ``make_token`` about 5 (issue 17)."""

    def __init__(self, key: SecretKey | str | bytes, campaign: str) -> None:
        self._key = key
        self._campaign = campaign
        self._campaign_bytes = campaign.encode("utf-8")
        self._keyed = hmac.new(_key_bytes(key), _DOMAIN, hashlib.sha256)

    def link_tokens(self, subscriber_id: int | None) -> tuple[str, str]:
        """The same as ``link_tokens(key, subscriber_id, campaign)``."""
        if subscriber_id is None or subscriber_id < 0:  # previews; link_tokens raises for < 0
            return link_tokens(self._key, subscriber_id, self._campaign)
        tail = _varint(subscriber_id) + self._campaign_bytes
        return self._sign(_CLICK_BYTE + tail), self._sign(_UNSUBSCRIBE_BYTE + tail)

    def _sign(self, payload: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(payload)
        raw = payload + mac.digest()[:MAC_BYTES]
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _key_bytes(key: SecretKey | str | bytes) -> bytes:
    if isinstance(key, SecretKey):
        return key.value
    return key.encode() if isinstance(key, str) else key


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + payload, hashlib.sha256).digest()[:MAC_BYTES]


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, start: int) -> tuple[int, int]:
    number = shift = 0
    for position in range(start, min(len(data), start + 10)):
        byte = data[position]
        number |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return number, position + 1
        shift += 7
    raise _bad_token()


def _bad_token() -> TokenError:
    return TokenError(
        "this link is not valid (it was changed, cut short, or made for another newsletter)",
        hint="use the link exactly as it appears in the email",
    )
