"""Scripted providers: each request (or message) does what the next step of a script says.

    provider = ScriptedProvider([transient(), transient(), accept()])  # twice a 503, then a 202
    provider = ScriptedProvider([partial(2, then=permanent(400, "bad header"))])
    provider = ScriptedProvider([rate_limited(30), accept()])
    provider = ScriptedPerMessage({3: refuse(permanent=False), 5: transient()})

``ScriptedProvider`` is a batch provider (one request per batch, as SendGrid); its steps are
used one per request, in order, and every request after the script's end is accepted.
``ScriptedPerMessage`` is a per-message provider (as SMTP): its steps are keyed by the number
of the hand-over (1 for the first ``send_one`` call), so a retry of the same message is the
next number. Both are the real base classes of delivery/providers/base.py with their hooks
filled, so the engine drives them exactly as it drives SendGrid, SMTP or the outbox.

They record what happened: ``requests`` (the subscriber ids of each hand-over, in order) and
``accepted`` (how many times each subscriber was accepted: more than once is a duplicate).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from mailer.delivery.providers.base import (
    BatchResult,
    PermanentProviderError,
    PerMessageProvider,
    Provider,
    ProviderError,
    RateLimited,
    RecipientRefused,
    TransientProviderError,
)
from mailer.delivery.types import MessageTemplate, Recipient


@dataclass(frozen=True)
class Step:
    """What one request (or one message) does.

    ``outcome``: "accept", "transient", "rate_limited", "permanent" (a whole-request error), or
    "refuse" (one recipient refused: ``positions`` of a batch, or this message). With an error,
    ``accept_first`` recipients of the batch were accepted before it ("partial").
    """

    outcome: str
    accept_first: int = 0
    retry_after: float = 0.0
    status: int | None = None
    message: str = ""
    positions: frozenset[int] = frozenset()
    permanent: bool = True
    bounced: bool = False

    def error(self) -> ProviderError:
        if self.outcome == "transient":
            return TransientProviderError(self.message or "503 Service Unavailable")
        if self.outcome == "rate_limited":
            return RateLimited(self.retry_after)
        if self.outcome == "permanent":
            return PermanentProviderError(self.status, self.message or "bad request")
        raise AssertionError(f"{self.outcome} is not an error")

    def refusal(self) -> RecipientRefused:
        reason = self.message or ("550 no such user" if self.permanent else "451 try later")
        return RecipientRefused(
            reason, 550 if self.permanent else 451, permanent=self.permanent, bounced=self.bounced
        )


def accept() -> Step:
    return Step("accept")


def transient(message: str = "") -> Step:
    return Step("transient", message=message)


def rate_limited(retry_after: float = 1.0) -> Step:
    return Step("rate_limited", retry_after=retry_after)


def permanent(status: int | None = 400, message: str = "") -> Step:
    return Step("permanent", status=status, message=message)


def partial(count: int, *, then: Step) -> Step:
    """The first ``count`` recipients of the request accepted, then ``then``'s error."""
    return Step(
        then.outcome,
        accept_first=count,
        retry_after=then.retry_after,
        status=then.status,
        message=then.message,
    )


def refuse(
    *positions: int, permanent: bool = True, bounced: bool = False, message: str = ""
) -> Step:
    """Recipients refused one by one (batch: at ``positions``; per message: this one), the
    rest accepted. ``permanent=False``: refused for now (SMTP 4xx), worth trying later."""
    return Step(
        "refuse",
        positions=frozenset(positions),
        permanent=permanent,
        bounced=bounced,
        message=message,
    )


class _Recording:
    def __init__(self) -> None:
        self.requests: list[list[int]] = []
        self.accepted: Counter[int] = Counter()

    @property
    def duplicates(self) -> list[int]:
        return sorted(sid for sid, n in self.accepted.items() if n > 1)


def _id(recipient: Recipient) -> int:
    assert recipient.subscriber_id is not None
    return recipient.subscriber_id


class ScriptedProvider(_Recording, Provider):
    """A batch provider playing ``script`` one step per request, then accepting everything."""

    name: ClassVar[str] = "scripted"
    max_batch_size: ClassVar[int] = 1000

    def __init__(self, script: Sequence[Step] = ()) -> None:
        super().__init__()
        self.script = list(script)

    def _send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> BatchResult:
        self.requests.append([_id(r) for r in recipients])
        step = self.script.pop(0) if self.script else accept()
        result = BatchResult(provider_message_id=f"req{len(self.requests)}")
        if step.outcome in ("accept", "refuse"):
            for position, recipient in enumerate(recipients):
                if position in step.positions:
                    result.refused.append(step.refusal().failure(recipient))
                else:
                    self._accept(result, recipient)
            return result
        for recipient in recipients[: step.accept_first]:
            self._accept(result, recipient)
        err = step.error()
        if step.accept_first:
            err.partial = result
        raise err

    def _accept(self, result: BatchResult, recipient: Recipient) -> None:
        result.accept(recipient, f"req{len(self.requests)}")
        self.accepted[_id(recipient)] += 1


class ScriptedPerMessage(_Recording, PerMessageProvider):
    """A per-message provider: hand-over number n does ``script[n]`` (default: accepted).

    ``connections`` above 1: the send loop hands over that many messages at once, on threads;
    hand-overs are numbered in the order they reach the provider.
    """

    name: ClassVar[str] = "scripted-per-message"
    max_batch_size: ClassVar[int] = 1000

    def __init__(self, script: Mapping[int, Step] | None = None, *, connections: int = 1) -> None:
        super().__init__()
        self.script = dict(script or {})
        self.connections = connections
        self._lock = threading.Lock()

    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        with self._lock:
            self.requests.append([_id(recipient)])
            number = len(self.requests)
        step = self.script.get(number, accept())
        if step.outcome == "refuse":
            raise step.refusal()
        if step.outcome != "accept":
            raise step.error()
        with self._lock:
            self.accepted[_id(recipient)] += 1
        return f"<msg{number}@scripted>"
