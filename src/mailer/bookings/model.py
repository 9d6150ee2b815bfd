"""What a booking tool's webhook tells us, in one shape for every tool, and how it can fail.

Each source module (calendly, calcom, generic) turns its tool's verified body into a
``BookingEvent`` (or ``Ignored`` for an event type we do not count), through the strict JSON
reading here: no NaN or Infinity, objects where objects belong, every
text cut to the length its column holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
MAX_ID_CHARS = 2000  # an external id longer than this is not a booking tool's id
MAX_PARAM_CHARS = 300
MAX_NAME_CHARS = 200  # Booking.event_name
MAX_EMAIL_CHARS = 320


class Kind:
    CREATED = "created"
    CANCELED = "canceled"


class SignatureError(Exception):
    """The request is not proven to come from the booking tool now; the message says why."""


class PayloadError(Exception):
    """The verified body is not the tool's JSON event; the message names the field."""


@dataclass(frozen=True)
class BookingEvent:
    """One booking created or canceled, as any tool reports it."""

    source: str  # calendly, calcom, booking
    kind: str  # Kind.CREATED or Kind.CANCELED
    external_id: str  # the tool's own id of this booking (Calendly's invitee uri, Cal.com's uid)
    email: str = ""  # the booker's address: used to attribute, never stored
    booked_at: datetime | None = None
    event_name: str = ""
    # utm_* as passed back, plus any other value that may hold our click reference
    params: dict[str, str] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()  # values that may be a click reference, most likely first
    replaces: str = ""  # the external id of the booking this one reschedules
    rescheduled: bool = False  # a cancellation that is half of a reschedule


@dataclass(frozen=True)
class Ignored:
    """A verified event of a type that does not create or cancel a booking (202, not stored)."""

    event_type: str


@dataclass(frozen=True)
class BookingSource:
    """One booking tool: its name, its secret, and its verify-then-parse pair."""

    name: str
    secret_variable: str  # the environment variable holding its key (config.Secrets)
    signature_header: str
    # (secret, header value, raw body, now as unix time); raises SignatureError
    verify: Callable[[bytes, str | None, bytes, float], None]
    parse: Callable[[bytes], BookingEvent | Ignored]  # raises PayloadError


def _refuse_constant(name: str) -> Any:
    raise PayloadError(f"not JSON: {name} is not a number JSON allows")


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (strict UTF-8, no NaN/Infinity); PayloadError otherwise."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8 text") from None
    except RecursionError:
        raise PayloadError("not JSON this endpoint accepts: nested too deep") from None
    except ValueError as err:
        if isinstance(err, PayloadError):
            raise
        raise PayloadError(f"not JSON: {err}") from None
    if not isinstance(document, dict):
        raise PayloadError("the body must be a JSON object")
    return document


def text(document: Mapping[str, Any], key: str, *, where: str, limit: int) -> str:
    """An optional string field ('' when absent or null), cut to ``limit`` characters."""
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{where}{key} must be a string")
    return _clean(value)[:limit]


def required_text(document: Mapping[str, Any], key: str, *, where: str) -> str:
    value = text(document, key, where=where, limit=MAX_ID_CHARS + 1)
    if not value.strip():
        raise PayloadError(f"{where}{key} is missing")
    if len(value) > MAX_ID_CHARS:
        raise PayloadError(f"{where}{key} is longer than {MAX_ID_CHARS} characters")
    return value.strip()


def obj(document: Mapping[str, Any], key: str, *, where: str) -> dict[str, Any]:
    """An optional object field ({} when absent or null)."""
    value = document.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where}{key} must be an object")
    return value


def timestamp(document: Mapping[str, Any], key: str, *, where: str) -> datetime | None:
    """An optional ISO 8601 time ('Z' or an offset; a time without one is taken as UTC)."""
    value = text(document, key, where=where, limit=64)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where}{key} is not an ISO 8601 time: {value[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def utm_params(*sources: Mapping[str, Any]) -> dict[str, str]:
    """utm_* strings from the first source that has each (other types are ignored)."""
    found: dict[str, str] = {}
    for source in sources:
        for key in UTM_KEYS:
            value = source.get(key)
            if key not in found and isinstance(value, str) and value.strip():
                found[key] = _clean(value).strip()[:MAX_PARAM_CHARS]
    return found


def ref_candidates(params: Mapping[str, str], *extra: Any) -> tuple[str, ...]:
    """Values that may carry our click reference: utm_term (where the redirect puts it),
    utm_content, then any other string the tool passed back."""
    values = [params.get("utm_term", ""), params.get("utm_content", "")]
    values += [value for value in extra if isinstance(value, str)]
    seen: list[str] = []
    for value in values:
        value = value.strip()
        if value and len(value) <= MAX_PARAM_CHARS and value not in seen:
            seen.append(value)
    return tuple(seen)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(value: str) -> str:
    """No NUL or lone surrogate (PostgreSQL refuses both; no booking tool sends them)."""
    if _UNSTORABLE.search(value):
        raise PayloadError("a string holds a NUL character or a lone surrogate")
    return value
