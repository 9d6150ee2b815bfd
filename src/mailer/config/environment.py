"""The environment mailer reads: secrets, MAILER_WORKSPACE, MAILER_LOG_FORMAT, ``<NAME>_FILE``.

Secrets never come from mailer.toml: ``MAILER_SECRET_KEY`` (and ``MAILER_SECRET_KEY_PREVIOUS``
during a key rotation), ``SENDGRID_API_KEY``, ``MAILER_SMTP__PASSWORD`` and the booking tools'
webhook keys (``MAILER_CALENDLY_SIGNING_KEY``, ``MAILER_CALCOM_WEBHOOK_SECRET``,
``MAILER_BOOKING_WEBHOOK_SECRET``) are read from the environment only. Each of these, and each
``MAILER_<SECTION>__<KEY>`` override, may instead name a file holding the value, as
``<NAME>_FILE`` (Docker secrets under /run/secrets, systemd credentials under
$CREDENTIALS_DIRECTORY).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailer.errors import ConfigError

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
