"""Delivery providers (outbox, sendgrid, smtp) behind one interface, and the one factory."""

from __future__ import annotations

from pathlib import Path

from mailer.config import Secrets, Settings
from mailer.delivery.providers.base import (
    BatchResult,
    PermanentProviderError,
    Provider,
    RateLimited,
    RecipientFailure,
    TransientProviderError,
)
from mailer.delivery.providers.outbox import OutboxProvider
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.delivery.providers.smtp import SmtpProvider
from mailer.errors import ConfigError

__all__ = [
    "BatchResult",
    "PermanentProviderError",
    "Provider",
    "RateLimited",
    "RecipientFailure",
    "TransientProviderError",
    "make_provider",
]


def make_provider(settings: Settings, secrets: Secrets, workspace_root: Path) -> Provider:
    """The provider named by ``delivery.provider``, configured from its section and secrets."""
    kind = settings.delivery.provider
    if kind == "outbox":
        return OutboxProvider(Path(workspace_root) / "outbox")
    if kind == "sendgrid":
        if secrets.sendgrid_api_key is None or not secrets.sendgrid_api_key.get_secret_value():
            raise ConfigError(
                "delivery.provider is sendgrid, but SENDGRID_API_KEY is not set",
                hint="export SENDGRID_API_KEY=SG.… (a key with the Mail Send permission)",
            )
        return SendGridProvider(
            secrets.sendgrid_api_key.get_secret_value(),
            api_host=settings.sendgrid.api_host,
            categories=settings.sendgrid.categories,
        )
    if kind == "smtp":
        smtp = settings.smtp
        password = secrets.smtp_password.get_secret_value() if secrets.smtp_password else None
        if smtp.username and not password:
            raise ConfigError(
                f"smtp.username is {smtp.username!r}, but MAILER_SMTP__PASSWORD is not set",
                hint="export MAILER_SMTP__PASSWORD=… or leave smtp.username empty",
            )
        return SmtpProvider(
            smtp.host,
            smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=password,
            connections=smtp.connections,
        )
    raise ConfigError(f"delivery.provider: unknown provider {kind!r}")
