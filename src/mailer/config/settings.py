"""What mailer.toml may hold: one pydantic model per [section], every key's type and check.

Unknown sections and keys are refused (``extra="forbid"``); a value that fails a check raises
with a message that says what is expected, which :mod:`mailer.config.loading` turns into an
error naming the file and line, or the environment variable.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_WINDOW = re.compile(r"^([01]\d:[0-5]\d|2[0-3]:[0-5]\d)-([01]\d:[0-5]\d|2[0-3]:[0-5]\d)$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganizationSettings(_Section):
    name: str = Field(min_length=1)
    postal_address: str = Field(min_length=1)
    phone: str = ""
    website: str = ""
    logo_url: str = ""
    brand_color: str = "#1d6fa5"
    disclaimer: str = ""
    staff_emails: list[str] = Field(default_factory=list)

    @field_validator("brand_color")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _HEX_COLOR.match(value):
            raise ValueError('a colour like "#1d6fa5" (# and six hex digits)')
        return value

    @field_validator("staff_emails", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _split_list(value)


class SenderSettings(_Section):
    from_email: str = Field(min_length=3)
    from_name: str = ""
    reply_to: str = ""

    @field_validator("from_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError("an email address such as news@yourclinic.example")
        return value


class BookingSettings(_Section):
    url: str = Field(min_length=1)
    cta_text: str = "Book your free consultation"

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _require_http(value)


class WebSettings(_Section):
    base_url: str = "http://127.0.0.1:8000"

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _require_http(value).rstrip("/")


class TrackingSettings(_Section):
    clicks: bool = True
    # Deprecated and ignored: mailer never added an open pixel (see load_settings). Accepted so
    # that an older mailer.toml with `opens = false` keeps working.
    opens: bool = False


class ScheduleSettings(_Section):
    cron: str = "0 9 * * 2"
    timezone: str = "America/Denver"
    misfire_grace: timedelta = timedelta(hours=6)

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                'five fields "minute hour day-of-month month day-of-week", e.g. "0 9 * * 2"'
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError('an IANA time zone name such as "America/Denver"') from None
        return value

    @field_validator("misfire_grace", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _parse_duration(value)


class FeedSettings(_Section):
    url: str = ""
    mode: Literal["single", "digest"] = "single"
    auto_approve: bool = False
    poll_every: timedelta = timedelta(minutes=15)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _require_http(value) if value else value

    @field_validator("poll_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _parse_duration(value)

    @field_validator("poll_every")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError('at least one minute, e.g. "15m" or "1h"')
        return value


DEFAULT_CLOSING_LINES = ("Have a question about anything in this issue? Reply to this email.",)


class DraftSettings(_Section):
    # The paragraphs every draft ends with, before the last call to action. The default invites
    # a reply and promises nothing the clinic may not keep (who reads, how fast).
    closing_lines: list[str] = Field(default_factory=lambda: list(DEFAULT_CLOSING_LINES))

    @field_validator("closing_lines", mode="before")
    @classmethod
    def _lines(cls, value: Any) -> Any:
        # From the environment: a JSON list, or one line (a sentence may hold commas).
        if isinstance(value, str):
            return json.loads(value) if value.strip().startswith("[") else [value]
        return value

    @field_validator("closing_lines")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        return [line.strip() for line in value if line.strip()]


class DeliverySettings(_Section):
    provider: Literal["outbox", "sendgrid", "smtp"] = "outbox"
    rate_per_second: float = Field(default=0, ge=0)
    batch_size: int = Field(default=500, ge=1, le=1000)


class SendgridSettings(_Section):
    api_host: str = "https://api.sendgrid.com"
    categories: list[str] = Field(default_factory=lambda: ["newsletter"])
    webhook_public_key: str = ""

    @field_validator("categories", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _split_list(value)


class SmtpSettings(_Section):
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    # Messages in flight at once, each over its own connection (a crash may send each of them
    # twice, counted). 1 keeps the server's one-at-a-time order; see docs/benchmarks.md.
    connections: int = Field(default=1, ge=1, le=32)


class SequencesSettings(_Section):
    """Automated series (issue 16): a step whose due time is further back than ``catch_up`` is
    not sent to that person (a step added later never goes to everyone who joined long ago)."""

    catch_up: timedelta = timedelta(days=2)
    # Quiet hours: due steps go out only in this local window ("" for any time).
    send_between: str = "08:00-19:00"
    # No step within this long of another email to the same person (a weekly issue, a campaign,
    # another step): the step waits (mailer.sequences.due). "0s" turns it off.
    min_gap: timedelta = timedelta(hours=12)

    @field_validator("catch_up", "min_gap", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _parse_duration(value)

    @field_validator("min_gap")
    @classmethod
    def _shorter_than_catch_up(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        # A step held longer than the catch-up window would never be sent to that person.
        catch_up = info.data.get("catch_up")
        if isinstance(catch_up, timedelta) and value >= catch_up:
            raise ValueError(
                f'shorter than catch_up ({catch_up}), e.g. "12h": a step held that long '
                "would never be sent"
            )
        return value

    @field_validator("send_between")
    @classmethod
    def _window(cls, value: str) -> str:
        match = _WINDOW.match(value)
        if value and (match is None or match.group(1) == match.group(2)):
            raise ValueError('a local time window such as "08:00-19:00", or "" for any time')
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite:///mailer.db"
    # true: commands bring the schema up to date when they open the database. false: only
    # `mailer db upgrade` does; commands refuse (exit 2) while the schema is behind.
    auto_upgrade: bool = True


class StaffSettings(_Section):
    # The staff web app (`mailer serve`, /staff): a signed-in browser that shows no activity
    # for this long is signed out (its session row is no longer accepted).
    session_idle: timedelta = timedelta(hours=8)
    # The biggest CSV file the staff pages accept for an import, in MB (a 1,000,000-row
    # export is about 75 MB; bigger lists import with `mailer subscribers import`).
    upload_max_mb: int = Field(default=50, ge=1, le=2000)

    @field_validator("session_idle", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _parse_duration(value)

    @field_validator("session_idle")
    @classmethod
    def _sensible(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=5) <= value <= timedelta(days=30):
            raise ValueError('between 5 minutes and 30 days, e.g. "8h"')
        return value


class Settings(_Section):
    """The whole of mailer.toml after environment overrides."""

    organization: OrganizationSettings
    sender: SenderSettings
    booking: BookingSettings
    web: WebSettings = Field(default_factory=WebSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    feed: FeedSettings = Field(default_factory=FeedSettings)
    draft: DraftSettings = Field(default_factory=DraftSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    sendgrid: SendgridSettings = Field(default_factory=SendgridSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sequences: SequencesSettings = Field(default_factory=SequencesSettings)
    staff: StaffSettings = Field(default_factory=StaffSettings)


def parse_duration(text: str) -> timedelta:
    """ "0s", "90m", "6h", "2d", "1w" -> timedelta; ValueError saying what is expected."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError('a duration such as "0s", "90m", "6h", "2d" or "1w"')
    amount, unit = int(match.group(1)), match.group(2)
    unit_name = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]
    return timedelta(**{unit_name: amount})


def _parse_duration(value: Any) -> Any:
    """ "30m", "6h", "1d" -> timedelta; other values are left to pydantic. The examples are
    mailer.toml's own (its keys are minutes to days); a series' ``after:`` says "0s" to "1w"."""
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            raise ValueError('a duration such as "30m", "6h" or "1d"') from None
    return value


def _require_http(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("an http:// or https:// address")
    return value


def _split_list(value: Any) -> Any:
    """Environment variables give strings: accept a JSON list or comma-separated words."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value
