"""SendGrid event objects -> the EventKind vocabulary, with the raw event kept beside it.

SendGrid copies our ``custom_args`` onto every event as top-level keys: ``subscriber_id`` (per
personalization) and ``campaign_slug``/``campaign_id`` (per message); see
delivery/providers/sendgrid.py.

Bounces: SendGrid's ``bounce`` event has ``type`` "bounce" (the receiving server refused the
address for good) or "blocked" (refused for a reason that may pass: reputation, content, a full
mailbox). Only "bounce" maps to BOUNCED and suppresses; "blocked" maps to DROPPED (not delivered,
the address kept). ``dropped`` (SendGrid's own suppression lists) suppresses nothing here either.

A verified body must be a JSON array; each element that is not a plain event object (not an
object, nested deeper than SendGrid ever nests, a NaN or Infinity, a string with a NUL or a lone
surrogate: valid JSON for Python, refused by PostgreSQL) is skipped alone, so one bad event never
costs the batch its good ones.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailer.states import EventKind

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
MAX_ID_CHARS = 200  # Event.source_event_id
MAX_DB_ID = 2**63 - 1


class PayloadError(Exception):
    """The (verified) body is not a JSON array, or holds no usable event object."""


@dataclass(frozen=True)
class MappedEvent:
    kind: EventKind
    source_event_id: str | None
    subscriber_id: int | None
    campaign_id: int | None  # as the custom_args say; checked against campaign_runs on ingest
    campaign_slug: str
    occurred_at: datetime | None
    raw: dict[str, Any]


# SendGrid's events are two levels deep (an event object, its category list); a few more are
# allowed for fields it may add. Deeper is not an event, and near Python's recursion limit
# (about 1,000 levels) decoding or storing it would fail.
MAX_DEPTH = 8
# Where to look again, element by element, after the whole body failed to decode.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')
# NUL and lone surrogates can only enter a decoded string through these escapes (the body is
# strict UTF-8, and raw control characters are not JSON): without one, no string is checked.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_BAD_TEXT = "a string with a NUL character or a lone surrogate"
_NOT_FINITE = "a number that is NaN or infinite"
_CONTAINERS = (dict, list)
_SCALARS = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True)
class Skipped:
    """An element of the batch left out: its position and why (never its content)."""

    position: int
    reason: str


@dataclass
class Batch:
    events: list[dict[str, Any]]
    skipped: list[Skipped] = field(default_factory=list)
    received: int = 0


class _Unreadable:
    """An element that could not be decoded on its own (too deep, not finite, too long)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _NotFinite(ValueError):
    """NaN, Infinity or a float beyond range: Python reads them, PostgreSQL's JSON does not."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _no_constant(name: str) -> float:
    raise _NotFinite(name)


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


def _loads(text: str) -> Any:
    return _DECODER.decode(text)


def parse_batch(body: bytes) -> Batch:
    """The event objects in a webhook body, and the elements skipped as not usable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PayloadError("the body is not UTF-8 JSON") from err
    try:
        items = _loads(text)
    except json.JSONDecodeError as err:
        raise PayloadError("the body is not JSON") from err
    except (RecursionError, ValueError):
        # JSON that Python will not hold as a whole (nested too deeply, NaN or Infinity, an
        # integer over 4,300 digits): each element is decoded alone so the others are kept.
        items = _elements(text)
    if not isinstance(items, list):
        raise PayloadError("the body is not a JSON array of event objects")
    strings = _SUSPECT_ESCAPE.search(text) is not None
    batch = Batch(events=[], received=len(items))
    for position, item in enumerate(items):
        if isinstance(item, _Unreadable):
            problem: str | None = item.reason
        else:
            problem = _problem(item, strings=strings)
        if problem is None:
            batch.events.append(item)
        else:
            batch.skipped.append(Skipped(position, problem))
    if batch.skipped and not batch.events:
        raise PayloadError(
            f"the body holds no usable event object ({batch.skipped[0].reason}, "
            f"element {batch.skipped[0].position})"
        )
    return batch


def _elements(text: str) -> list[Any]:
    """The top-level array's elements, each decoded alone (an undecodable one as _Unreadable).

    Strings are matched whole, so brackets and commas inside them are not counted.
    """
    start = len(text) - len(text.lstrip())
    if not text.startswith("[", start):
        raise PayloadError("the body is not a JSON array of event objects")
    items: list[Any] = []
    depth = 0  # inside the array's elements
    begin = start + 1
    for token in _TOKENS.finditer(text, start + 1):
        mark = token.group()
        if mark == "[" or mark == "{":
            depth += 1
        elif (mark == "]" or mark == "}") and depth:
            depth -= 1
        elif mark == "," and not depth:
            items.append(_element(text[begin : token.start()]))
            begin = token.end()
        elif mark == "]":  # the array's own end
            last = text[begin : token.start()]
            if items or last.strip():
                items.append(_element(last))
            if text[token.end() :].strip():
                raise PayloadError("the body is not JSON (text after the array)")
            return items
    raise PayloadError("the body is not JSON (the array is not closed)")


def _element(piece: str) -> Any:
    try:
        return _loads(piece)
    except json.JSONDecodeError as err:
        raise PayloadError("the body is not JSON") from err
    except RecursionError:
        return _Unreadable(f"nested deeper than {MAX_DEPTH} levels")
    except _NotFinite:
        return _Unreadable(_NOT_FINITE)
    except ValueError:
        return _Unreadable("a number too long to read")


def _problem(item: Any, *, strings: bool) -> str | None:
    """Why a decoded element cannot be stored as an event, or None if it can. Numbers were
    checked while decoding; strings only when ``strings`` (the body has a suspect escape)."""
    if not isinstance(item, dict):
        return "not an event object"
    if not strings and _SCALARS.issuperset(map(type, item.values())):
        return None  # the common flat event, answered without a walk
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(item, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        values = container.values() if isinstance(container, dict) else container
        if strings:
            texts = [*container, *values] if isinstance(container, dict) else container
            if not all(_storable(text) for text in texts if isinstance(text, str)):
                return _BAD_TEXT
        for value in values:
            if isinstance(value, _CONTAINERS):
                stack.append((value, depth + 1))
    return None


def _storable(text: str) -> bool:
    """No NUL (PostgreSQL text refuses it) and no lone surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def map_event(raw: dict[str, Any]) -> MappedEvent | None:
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
    return MappedEvent(
        kind=kind,
        source_event_id=event_id,
        subscriber_id=_as_id(raw.get("subscriber_id")),
        campaign_id=_as_id(raw.get("campaign_id")),
        campaign_slug=slug[:200] if isinstance(slug, str) else "",
        occurred_at=_as_time(raw.get("timestamp")),
        raw=raw,
    )
