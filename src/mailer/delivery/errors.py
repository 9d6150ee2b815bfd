"""What a provider raises when a whole batch did not go. One tree, under mailer's DeliveryError.

DeliveryError (mailer.errors)
├── TransientProviderError   worth retrying the same batch later: 5xx, timeouts, dropped or
│   │                        refused connections, SMTP 4xx for the whole transaction
│   └── RateLimited          the provider asked us to slow down; ``retry_after`` seconds
│                            (from SendGrid's X-RateLimit-Reset epoch, or Retry-After)
└── PermanentProviderError   retrying the same request cannot help: 400, 401, 403, 413,
                             failed SMTP login, a reserved header. Pause and ask a person.
                             ``status`` (HTTP or SMTP code, None when none) and
                             ``provider_message`` (the provider's own words) say why.

Catch RateLimited before TransientProviderError. A refusal of one recipient (SMTP 550 for one
address) is not an exception: it is a failure inside the BatchResult.

When a per-message provider (SMTP) fails part-way through a batch, the error carries
``partial``: the BatchResult of the recipients already accepted, so they are not sent twice.
Library errors are re-raised ``from err``; messages never contain secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.errors import DeliveryError

if TYPE_CHECKING:
    from mailer.delivery.providers.base import BatchResult


class ProviderError(DeliveryError):
    """Base of the provider errors; ``partial`` is what was accepted before the failure."""

    partial: BatchResult | None = None


class TransientProviderError(ProviderError):
    """A fault worth retrying: the provider or the network failed, not the request."""


class RateLimited(TransientProviderError):
    """The provider's rate limit: wait ``retry_after`` seconds, then send the same batch."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(
            message or f"rate limited by the provider: retry in {self.retry_after:.1f} s",
            hint="mailer waits and retries; lower delivery.rate_per_second to avoid it",
        )


class PermanentProviderError(ProviderError):
    """The provider refused the request itself: retrying it unchanged cannot succeed."""

    def __init__(
        self, status: int | None, provider_message: str, *, hint: str | None = None
    ) -> None:
        self.status = status
        self.provider_message = provider_message
        prefix = f"provider refused the request ({status})" if status else "provider refused"
        super().__init__(f"{prefix}: {provider_message}", hint=hint)
