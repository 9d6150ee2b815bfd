"""The provider interface: one batch of recipients of one compiled campaign in, one answer out.

As in django-anymail's base backend, the base class owns the loop and the bookkeeping; each
provider fills small hooks. Batch providers (SendGrid: one request per batch) implement
``_send``; per-message providers (SMTP, outbox) subclass ``PerMessageProvider`` and implement
``_send_one``. The send loop drives a per-message provider one message at a time
(``send_one``), so it can record each message before the next goes out. Providers import no
database or web code: the caller hands them everything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar

from mailer.delivery.errors import (
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from mailer.delivery.types import MessageTemplate, Recipient

__all__ = [
    "BatchResult",
    "PerMessageProvider",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "RateLimited",
    "RecipientFailure",
    "RecipientRefused",
    "TransientProviderError",
]


def recipient_key(recipient: Recipient) -> int | str:
    """How results name a recipient: the subscriber id, or the address when there is none."""
    return recipient.subscriber_id if recipient.subscriber_id is not None else recipient.email


@dataclass(frozen=True)
class RecipientFailure:
    """One recipient the provider refused while the rest of the batch went out."""

    recipient: Recipient
    reason: str
    code: int | None = None
    # False for a temporary refusal (SMTP 4xx for one RCPT): worth trying that person later.
    permanent: bool = True
    # The address itself was refused for good (SMTP 5xx at RCPT, e.g. 550 5.1.1 user unknown):
    # the subscriber is suppressed as bounced, as a SendGrid bounce event would.
    bounced: bool = False


@dataclass
class BatchResult:
    """What became of one batch.

    ``provider_message_id``: the provider's id for the whole request (SendGrid's X-Message-Id;
    its webhook events carry it as the prefix of sg_message_id), None when there is none.
    ``message_ids``: per accepted recipient (keyed like ``recipient_key``), the id to match
    later events with: the Message-ID header for SMTP/outbox, the request id for SendGrid.
    """

    provider_message_id: str | None = None
    accepted: list[Recipient] = field(default_factory=list)
    message_ids: dict[int | str, str] = field(default_factory=dict)
    refused: list[RecipientFailure] = field(default_factory=list)

    @property
    def failures(self) -> dict[int | str, str]:
        """Refused recipients (key as in ``recipient_key``) and why."""
        return {recipient_key(f.recipient): f.reason for f in self.refused}

    def accept(self, recipient: Recipient, message_id: str) -> None:
        self.accepted.append(recipient)
        self.message_ids[recipient_key(recipient)] = message_id


class RecipientRefused(Exception):
    """Raised by ``_send_one`` when the provider refused this one recipient only."""

    def __init__(
        self,
        reason: str,
        code: int | None = None,
        *,
        permanent: bool = True,
        bounced: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.permanent = permanent
        self.bounced = bounced

    def failure(self, recipient: Recipient) -> RecipientFailure:
        return RecipientFailure(recipient, self.reason, self.code, self.permanent, self.bounced)


class Provider(ABC):
    """Sends batches; raises the errors of mailer.delivery.errors for whole-batch failures."""

    name: ClassVar[str]
    max_batch_size: ClassVar[int]

    def send_batch(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> BatchResult:
        """Send ``template`` to each recipient, with each one's substitutions filled."""
        if len(recipients) > self.max_batch_size:
            raise ValueError(
                f"{self.name}: {len(recipients)} recipients in one batch, "
                f"at most {self.max_batch_size}"
            )
        if not recipients:
            return BatchResult()
        return self._send(template, recipients)

    @abstractmethod
    def _send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> BatchResult:
        """Hook: deliver a non-empty batch no larger than ``max_batch_size``."""

    def close(self) -> None:  # noqa: B027 - optional hook: most providers hold nothing
        """Release connections. The provider may be used again afterwards (it reconnects)."""

    def __enter__(self) -> Provider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class PerMessageProvider(Provider):
    """A provider that sends one message per recipient; the base runs the loop.

    A whole-batch error part-way through carries the recipients already accepted (or refused)
    as ``err.partial``, so a retry can leave them out. ``connections`` is how many ``send_one``
    calls may run at once (threads; the provider must then be thread-safe): ``send_batch`` and
    the send loop keep that many messages in flight.
    """

    connections: int = 1

    def send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        """Send one message; its message id once the provider has accepted it.

        RecipientRefused: the provider refused this recipient only. A ProviderError: the
        provider failed as a whole (this message may or may not have gone).
        """
        return self._send_one(template, recipient)

    @abstractmethod
    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        """Hook: send one message, return its message id; RecipientRefused for this one only."""

    def _send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> BatchResult:
        if self.connections > 1 and len(recipients) > 1:
            return self._send_side_by_side(template, recipients)
        result = BatchResult()
        for recipient in recipients:
            try:
                message_id = self.send_one(template, recipient)
            except RecipientRefused as refusal:
                result.refused.append(refusal.failure(recipient))
            except ProviderError as err:
                err.partial = result
                raise
            else:
                result.accept(recipient, message_id)
        return result

    def _send_side_by_side(
        self, template: MessageTemplate, recipients: Sequence[Recipient]
    ) -> BatchResult:
        """``connections`` messages at a time; after a whole-batch error no new one starts, the
        ones in flight finish, and ``err.partial`` holds every message that got an answer."""
        result = BatchResult()
        error: ProviderError | None = None
        with ThreadPoolExecutor(self.connections, thread_name_prefix="mailer-smtp") as pool:
            futures = [pool.submit(self.send_one, template, r) for r in recipients]
            for recipient, future in zip(recipients, futures, strict=True):
                try:
                    message_id = future.result()
                except CancelledError:
                    continue
                except RecipientRefused as refusal:
                    result.refused.append(refusal.failure(recipient))
                except ProviderError as err:
                    if error is None:
                        error = err
                        for later in futures:
                            later.cancel()
                else:
                    result.accept(recipient, message_id)
        if error is not None:
            error.partial = result
            raise error
        return result
