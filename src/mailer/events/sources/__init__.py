"""The event sources by name: what ``POST /webhooks/{source}`` accepts.

A source is built per request from the settings (its key may change with them; loading it is
cached). Adding a provider's webhook is one module implementing EventSource (sources/base.py)
and one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from mailer.config import Settings
from mailer.events.sources.base import EventSource
from mailer.events.sources.sendgrid import SendGridSource

SourceFactory = Callable[[Settings], EventSource]

SOURCES: dict[str, SourceFactory] = {
    SendGridSource.name: SendGridSource.from_settings,
}
