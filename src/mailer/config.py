"""Settings from the workspace's mailer.toml plus the environment. The only reader of either.

Every key ``section.key`` of mailer.toml can be overridden by ``MAILER_<SECTION>__<KEY>``.
Secrets never come from the file: ``MAILER_SECRET_KEY`` (and ``MAILER_SECRET_KEY_PREVIOUS``
during a key rotation), ``SENDGRID_API_KEY``, ``MAILER_SMTP__PASSWORD`` and the booking tools'
webhook keys (``MAILER_CALENDLY_SIGNING_KEY``, ``MAILER_CALCOM_WEBHOOK_SECRET``,
``MAILER_BOOKING_WEBHOOK_SECRET``) are read from the environment only.

Each of these variables may instead name a file holding the value, as ``<NAME>_FILE`` (Docker
secrets under /run/secrets, systemd credentials under $CREDENTIALS_DIRECTORY): the file's text
is the value, less one trailing newline. Setting both NAME and NAME_FILE is an error, and so
is a file that cannot be read; both name the variable.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailer.errors import ConfigError

_log = logging.getLogger("mailer.config")
CONFIG_FILE = "mailer.toml"
ENV_PREFIX = "MAILER_"
WORKSPACE_ENV = "MAILER_WORKSPACE"
# The keys that sign the booking tools' webhooks (mailer.bookings): without one, that endpoint
# answers 503.
BOOKING_SECRET_ENV = (
    "MAILER_CALENDLY_SIGNING_KEY",
    "MAILER_CALCOM_WEBHOOK_SECRET",
    "MAILER_BOOKING_WEBHOOK_SECRET",
)
SECRET_ENV = (
    "MAILER_SECRET_KEY",
    "MAILER_SECRET_KEY_PREVIOUS",
    "SENDGRID_API_KEY",
    "MAILER_SMTP__PASSWORD",
    *BOOKING_SECRET_ENV,
)
FILE_SUFFIX = "_FILE"
LOG_FORMAT_ENV = "MAILER_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
# Keys that would be secrets if someone put them in the file.
_SECRET_KEYS_IN_FILE = {("smtp", "password"), ("sendgrid", "api_key"), ("web", "secret_key")}

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


class SequencesSettings(_Section):
    """Automated series (issue 16): a step whose due time is further back than ``catch_up`` is
    not sent to that person (a step added later never goes to everyone who joined long ago)."""

    catch_up: timedelta = timedelta(days=2)
    # Quiet hours: due steps go out only in this local window ("" for any time).
    send_between: str = "08:00-19:00"

    @field_validator("catch_up", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _parse_duration(value)

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


class Secrets(BaseSettings):
    """Secrets, from the environment only. Never logged: pydantic masks SecretStr in reprs."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MAILER_SECRET_KEY")
    )
    # The key before the last rotation: links signed with it are still accepted, never made.
    secret_key_previous: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MAILER_SECRET_KEY_PREVIOUS")
    )
    sendgrid_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SENDGRID_API_KEY")
    )
    smtp_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MAILER_SMTP__PASSWORD")
    )
    # Booking webhooks (docs/bookings.md): Calendly's webhook signing key, Cal.com's webhook
    # secret, and the key a clinic's own forwarder signs /webhooks/booking with.
    calendly_signing_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MAILER_CALENDLY_SIGNING_KEY")
    )
    calcom_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MAILER_CALCOM_WEBHOOK_SECRET")
    )
    booking_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MAILER_BOOKING_WEBHOOK_SECRET")
    )

    def values(self) -> list[str]:
        """Every secret that is set, in clear: for masking them wherever they might appear."""
        fields = (
            self.secret_key,
            self.secret_key_previous,
            self.sendgrid_api_key,
            self.smtp_password,
            *self.booking_secrets(),
        )
        return [s.get_secret_value() for s in fields if s is not None]

    def booking_secrets(self) -> tuple[SecretStr | None, ...]:
        return (self.calendly_signing_key, self.calcom_webhook_secret, self.booking_webhook_secret)

    def booking_secret(self, variable: str) -> str:
        """The value of one of BOOKING_SECRET_ENV, '' when it is not set."""
        value = dict(zip(BOOKING_SECRET_ENV, self.booking_secrets(), strict=True))[variable]
        return value.get_secret_value() if value is not None else ""

    @property
    def bookings_connected(self) -> bool:
        """A booking webhook key is set: `mailer report` then counts bookings (0 is a figure)."""
        return any(s is not None and s.get_secret_value() for s in self.booking_secrets())


def parse_duration(text: str) -> timedelta:
    """ "0s", "90m", "6h", "2d", "1w" -> timedelta; ValueError saying what is expected."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError('a duration such as "0s", "90m", "6h", "2d" or "1w"')
    amount, unit = int(match.group(1)), match.group(2)
    unit_name = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]
    return timedelta(**{unit_name: amount})


def _parse_duration(value: Any) -> Any:
    """ "30m", "6h", "1d" -> timedelta; other values are left to pydantic."""
    if isinstance(value, str):
        return parse_duration(value)
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


def workspace_from_environment() -> str | None:
    """The MAILER_WORKSPACE variable, if set."""
    return os.environ.get(WORKSPACE_ENV) or None


def environment_flag(name: str) -> str | None:
    """A plain environment variable that is not a setting (CI, TERM...), read here only."""
    return os.environ.get(name)


def log_format(environ: dict[str, str] | None = None) -> str:
    """MAILER_LOG_FORMAT: "text" (the default) or "json" (one JSON object per line)."""
    value = (os.environ if environ is None else environ).get(LOG_FORMAT_ENV, "").strip().lower()
    if not value:
        return "text"
    if value not in LOG_FORMATS:
        raise ConfigError(
            f"environment variable {LOG_FORMAT_ENV}: {value!r} is not a log format",
            hint="use text or json",
        )
    return value


def read_file_variables(environ: dict[str, str]) -> dict[str, str]:
    """The environment with each ``<NAME>_FILE`` replaced by ``NAME`` = the file's text.

    Only the variables mailer reads take a _FILE form: the secrets and the
    MAILER_<SECTION>__<KEY> overrides. One trailing newline is dropped (``echo`` and most
    editors add one); anything else in the file is the value.
    """
    env = dict(environ)
    for name, path in environ.items():
        base = name[: -len(FILE_SUFFIX)]
        if not name.upper().endswith(FILE_SUFFIX) or not _takes_file(base.upper()):
            continue
        del env[name]
        if base in environ:
            raise ConfigError(
                f"environment variables {base} and {name} are both set",
                hint=f"keep one: {name} names a file holding the value of {base}",
            )
        try:
            value = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise ConfigError(
                f"environment variable {name}: cannot read {path} ({reason})",
                hint=f"{name} must name a readable file holding the value of {base}",
            ) from None
        env[base] = value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")
    return env


def _takes_file(name: str) -> bool:
    return name in SECRET_ENV or (name.startswith(ENV_PREFIX) and "__" in name)


def load_secrets(environ: dict[str, str] | None = None) -> Secrets:
    env = read_file_variables(dict(os.environ if environ is None else environ))
    upper = {name.upper(): value for name, value in env.items()}
    return Secrets.model_validate({name: upper.get(name) for name in SECRET_ENV})


def load_settings(config_path: Path, environ: dict[str, str] | None = None) -> Settings:
    """Read mailer.toml, overlay MAILER_<SECTION>__<KEY> variables, validate.

    Raises ConfigError naming the file (or variable), the key and what is expected.
    """
    env = read_file_variables(dict(os.environ if environ is None else environ))
    try:
        raw_text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{config_path}: not found",
            hint="run `mailer init DIR` to make a workspace, or pass --workspace DIR",
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_path}: cannot be read ({err})") from err
    try:
        data: dict[str, Any] = tomllib.loads(raw_text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(
            f"{config_path}: not valid TOML: {err}",
            hint='each setting is `key = "value"` under a [section] header',
        ) from err

    for section, key in _SECRET_KEYS_IN_FILE:
        if isinstance(data.get(section), dict) and key in data[section]:
            variable = (
                "MAILER_SMTP__PASSWORD"
                if section == "smtp"
                else "SENDGRID_API_KEY"
                if section == "sendgrid"
                else "MAILER_SECRET_KEY"
            )
            raise ConfigError(
                f"{config_path}: [{section}] {key}: secrets must not be in the file",
                hint=f"remove it from the file and set the environment variable {variable}",
            )

    overridden: dict[tuple[str, str], str] = {}
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or "__" not in upper or upper in SECRET_ENV:
            continue
        section, _, key = upper[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        if not section or not key:
            continue
        if section not in Settings.model_fields:
            raise ConfigError(
                f"environment variable {name}: unknown section {section!r}",
                hint="sections are " + ", ".join(Settings.model_fields),
            )
        block = data.setdefault(section, {})
        if not isinstance(block, dict):
            raise ConfigError(f"{config_path}: {section} must be a [section] table")
        block[key] = value
        overridden[(section, key)] = name

    try:
        settings = Settings.model_validate(data)
    except ValidationError as err:
        raise _explain(err, config_path, raw_text, overridden) from None
    if "opens" in (data.get("tracking") or {}):
        where = overridden.get(("tracking", "opens")) or str(config_path)
        _log.warning(
            "%s: tracking.opens is ignored and can be removed: mailer adds no open pixel "
            "(opens are unreliable since Apple Mail Privacy Protection); with SendGrid, its "
            "event webhook reports opens",
            where,
        )
    return settings


def _explain(
    err: ValidationError, config_path: Path, raw_text: str, overridden: dict[tuple[str, str], str]
) -> ConfigError:
    lines = []
    for problem in err.errors():
        loc = [str(part) for part in problem["loc"]]
        section = loc[0] if loc else ""
        key = loc[1] if len(loc) > 1 else ""
        dotted = ".".join(loc)
        variable = overridden.get((section, key))
        if variable:
            where = f"environment variable {variable}"
        else:
            line = _line_of(raw_text, section, key)
            where = f"{config_path}" + (f":{line}" if line else "")
        kind = problem["type"]
        if kind == "extra_forbidden":
            if len(loc) == 1:
                expected = "unknown section; sections are " + ", ".join(Settings.model_fields)
            else:
                model = Settings.model_fields.get(section)
                known = list(model.annotation.model_fields) if model and model.annotation else []
                expected = "unknown key; known keys are " + ", ".join(known)
        elif kind == "missing":
            expected = "required, but missing"
            if len(loc) == 1:
                expected = f"the [{section}] section is required"
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
            expected = f"expected {message}" if kind == "value_error" else message
        lines.append(f"{where}: {dotted}: {expected}")
    return ConfigError(
        "configuration error:\n  " + "\n  ".join(lines),
        hint=f"edit {config_path.name} (see `mailer init --help` for a complete sample)",
    )


def _line_of(raw_text: str, section: str, key: str) -> int | None:
    """Best-effort line number of ``key`` in ``[section]``, or of the section header."""
    current = ""
    header_line = None
    for number, line in enumerate(raw_text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped.strip("[]").strip()
            if current == section:
                header_line = number
            continue
        if current == section and key and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return header_line
