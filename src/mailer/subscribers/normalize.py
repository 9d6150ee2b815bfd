"""Addresses, keys, tags and names in one canonical form. No database code here.

An address is checked by email-validator (syntax only, no DNS). ``email`` is its normalized form
(Unicode NFC, lower-case domain), ``email_key`` the same folded to lower case: the list's unique,
case-insensitive identity. A deleted person survives only as ``email_hash(key)``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email


def _cache_domain_checks() -> None:
    """Remember email-validator's verdict on each valid domain name.

    Its domain check (IDNA/UTS-46 per character) is two thirds of validate_email's time and a
    pure function of the domain and two flags, and a list repeats a few domains a million times.
    The result is read, never changed, by validate_email; invalid domains are not cached (the
    exception is raised each time). Every address still goes through the full validate_email.
    """
    module = importlib.import_module("email_validator.validate_email")
    check = getattr(module, "validate_email_domain_name", None)
    if callable(check) and not hasattr(check, "cache_info"):
        setattr(module, "validate_email_domain_name", functools.lru_cache(maxsize=4096)(check))  # noqa: B010


_cache_domain_checks()

# Field limits, in characters. Names and tags match their database columns.
MAX_NAME = 200
MAX_TAG = 100
MAX_ATTRIBUTE = 1_000
MAX_ATTRIBUTE_NAME = 100
MAX_EMAIL_INPUT = 320

_TAG_SPLIT = re.compile(r"[;,|]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Address:
    email: str
    key: str


class InvalidAddress(ValueError):
    """email-validator's reason, as a person can read it."""


def email_key(normalized_email: str) -> str:
    return normalized_email.lower()


def email_hash(key: str) -> str:
    """What Suppression.email_hash holds: sha256 of the email key, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def normalize_email(raw: str) -> Address:
    """The normalized address and its key, or InvalidAddress with email-validator's reason."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("missing email")
    if len(text) > MAX_EMAIL_INPUT:
        raise InvalidAddress(f"email too long ({len(text)} characters)")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as err:
        raise InvalidAddress(str(err)) from err
    return Address(result.normalized, email_key(result.normalized))


def validate_batch(raws: list[str]) -> list[tuple[str, str] | str]:
    """For each raw address, (email, key) or the reason it is invalid. Runs in worker processes."""
    out: list[tuple[str, str] | str] = []
    for raw in raws:
        try:
            address = normalize_email(raw)
        except InvalidAddress as err:
            out.append(str(err))
        else:
            out.append((address.email, address.key))
    return out


def guess_key(raw: str) -> str:
    """The key an address would have if it is already in normalized form (checked by the caller)."""
    return raw.strip().lower()


def normalize_tag(tag: str) -> str:
    """Spaces collapsed, lower case, and the double quotes around a tag removed (Mailchimp's
    TAGS cells read ``"patients","vip"``)."""
    return _SPACES.sub(" ", tag).strip().strip('"').strip().lower()


def split_tags(cell: str) -> list[str]:
    """Tags in one cell, separated by ';', ',' or '|'. Empty pieces dropped, order kept.

    ``"patients","vip"`` (a Mailchimp export) gives patients, vip.
    """
    tags: list[str] = []
    for piece in _TAG_SPLIT.split(cell):
        tag = normalize_tag(piece)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def split_name(full: str) -> tuple[str, str]:
    """'Mary Jane Watson' -> ('Mary', 'Jane Watson'); a single word is a first name."""
    parts = _SPACES.sub(" ", full).strip().split(" ", 1)
    if not parts[0]:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def clean_text(value: str) -> str:
    """A cell as stored: surrounding whitespace removed, nothing else changed."""
    return value.strip()
