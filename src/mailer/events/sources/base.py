"""What every event source is: a provider's webhook, verified, then parsed into our vocabulary.

A source (sources/sendgrid.py; another provider's webhook later) does two things, always in
this order, as django-anymail's webhooks do:

1. ``verify(headers, body)`` proves the request came from the provider, over the raw body
   bytes, before anything of the body is parsed: SignatureError if not (the route answers 403
   and nothing changes); SourceConfigError when the source cannot check at all (its key is
   missing or unusable: 503, so the provider keeps retrying until an operator fixes it);
2. ``parse(body)`` turns the verified body into ProviderEvents in the EventKind vocabulary,
   each with the provider's raw event kept beside it: PayloadError when the body is not a
   batch of events at all (400); a single unusable element is skipped alone.

events/ingest.py stores what any source parsed and knows no provider; web/webhooks.py finds
the source by the name in ``/webhooks/{source}`` (the registry: sources/__init__.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class SourceConfigError(Exception):
    """The source's settings (its verification key) are missing or unusable: an operator must
    fix them; the message names the setting."""


class SignatureError(Exception):
    """The request is not proven to come from the provider now; the message says why."""


class PayloadError(Exception):
    """The (verified) body is not a batch of events, or holds no usable event."""


@dataclass(frozen=True)
class ProviderEvent:
    """One provider event in our vocabulary (``kind``: an EventKind), the raw event beside it.

    ``source_event_id`` (the provider's own id) makes a retried delivery of it a duplicate;
    ``subscriber_id``, ``campaign_id`` and ``campaign_slug`` are what we sent along with the
    message, as the event gives them back (checked against the database on ingest).
    ``reason``: for an event that suppresses, why, as the subscriber's history shows it.
    """

    kind: str
    source_event_id: str | None
    subscriber_id: int | None
    campaign_id: int | None
    campaign_slug: str
    occurred_at: datetime | None
    raw: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class Skipped:
    """An element of a batch left out: its position and why (never its content)."""

    position: int
    reason: str


@dataclass
class ParsedBatch:
    """A verified body, parsed: the events to store, and what the rest of it was.

    ``received``: elements in the body; ``ignored``: events of a type we do not record;
    ``skipped``: elements that are not usable events. The webhook answers with these counts.
    """

    source: str  # the source's name, stored with each event
    events: list[ProviderEvent]
    received: int = 0
    ignored: int = 0
    skipped: list[Skipped] = field(default_factory=list)


class EventSource(Protocol):
    """A provider's event webhook (see the module docstring for the order of the two steps)."""

    @property
    def name(self) -> str:
        """The name in ``/webhooks/{name}`` and in ``Event.source``."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Return if the provider signed this request; SignatureError otherwise. ``headers``
        is case-insensitive, as the web framework hands it over."""
        ...

    def parse(self, body: bytes) -> ParsedBatch:
        """The verified body's events; PayloadError when it is not a batch of events."""
        ...
