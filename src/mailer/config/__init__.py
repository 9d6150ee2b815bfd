"""Settings from the workspace's mailer.toml plus the environment. The only reader of either.

Every key ``section.key`` of mailer.toml can be overridden by ``MAILER_<SECTION>__<KEY>``.
Secrets never come from the file: ``MAILER_SECRET_KEY`` (and ``MAILER_SECRET_KEY_PREVIOUS``
during a key rotation), ``SENDGRID_API_KEY`` and ``MAILER_SMTP__PASSWORD`` are read from the
environment only.

Each of these variables may instead name a file holding the value, as ``<NAME>_FILE`` (Docker
secrets under /run/secrets, systemd credentials under $CREDENTIALS_DIRECTORY): the file's text
is the value, less one trailing newline. Setting both NAME and NAME_FILE is an error, and so
is a file that cannot be read; both name the variable.

The package: :mod:`~mailer.config.settings` (what mailer.toml may hold),
:mod:`~mailer.config.environment` (secrets and the other variables) and
:mod:`~mailer.config.loading` (reading the file, one clear error); their public names are
imported from here.
"""

from mailer.config.environment import (
    BOOKING_SECRET_ENV,
    ENV_PREFIX,
    FILE_SUFFIX,
    LOG_FORMAT_ENV,
    LOG_FORMATS,
    SECRET_ENV,
    WORKSPACE_ENV,
    Secrets,
    environment_flag,
    load_secrets,
    log_format,
    read_file_variables,
    workspace_from_environment,
)
from mailer.config.loading import CONFIG_FILE, load_settings
from mailer.config.settings import (
    DEFAULT_CLOSING_LINES,
    BookingSettings,
    DatabaseSettings,
    DeliverySettings,
    DraftSettings,
    FeedSettings,
    OrganizationSettings,
    ScheduleSettings,
    SenderSettings,
    SendgridSettings,
    SequencesSettings,
    Settings,
    SmtpSettings,
    StaffSettings,
    TrackingSettings,
    WebSettings,
    parse_duration,
)

__all__ = [
    "BOOKING_SECRET_ENV",
    "CONFIG_FILE",
    "DEFAULT_CLOSING_LINES",
    "ENV_PREFIX",
    "FILE_SUFFIX",
    "LOG_FORMATS",
    "LOG_FORMAT_ENV",
    "SECRET_ENV",
    "WORKSPACE_ENV",
    "BookingSettings",
    "DatabaseSettings",
    "DeliverySettings",
    "DraftSettings",
    "FeedSettings",
    "OrganizationSettings",
    "ScheduleSettings",
    "Secrets",
    "SenderSettings",
    "SendgridSettings",
    "SequencesSettings",
    "Settings",
    "SmtpSettings",
    "StaffSettings",
    "TrackingSettings",
    "WebSettings",
    "environment_flag",
    "load_secrets",
    "load_settings",
    "log_format",
    "parse_duration",
    "read_file_variables",
    "workspace_from_environment",
]
