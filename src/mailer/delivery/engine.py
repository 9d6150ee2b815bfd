"""The send loop: claim a batch from the ledger, hand it to the provider, record the answer.

It depends on two narrow things its caller gives it (as in listmonk's manager): a Ledger and a
Provider. Order of writes is what makes "exactly once" hold through crashes:

1. claim: the batch's rows become CLAIMED with a lease (committed);
2. just before the request they become SENDING (committed);
3. the provider accepts the request;
4. the rows become SENT (committed).

A crash leaves CLAIMED or SENDING rows, which a resumed send reclaims and sends again. Only one
request is ever in flight, so the SENDING rows of that one request are the only possible
duplicates, and they are counted. Nobody is skipped: nothing but step 4 moves a row past SENDING,
except a refusal by the provider. While one request is in flight the next batch is claimed and
prepared (tokens, substitutions) on the calling thread, so database and CPU work overlap the
network wait without a second request in flight.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from mailer.delivery.ledger import ClaimedRecipient, Ledger
from mailer.delivery.providers.base import (
    BatchResult,
    Provider,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.models import SendState

log = logging.getLogger("mailer.delivery")

SubstitutionsFor = Callable[[ClaimedRecipient], dict[str, str]]


@dataclass
class SendOutcome:
    run_id: int
    sent: int = 0
    failed: int = 0
    reclaimed: int = 0
    finished: bool = False
    paused_reason: str = ""
    rate_limited_waits: int = 0
    retries: int = 0


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter for transient faults, then pause the campaign."""

    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 60.0
    max_rate_limit_wait: float = 3600.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))


class RateLimiter:
    """At most ``per_second`` messages per second on average (0 means no limit)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self.clock = clock
        self.sleep = sleep
        self._next = clock()

    def wait_for(self, messages: int) -> None:
        if self.per_second <= 0:
            return
        now = self.clock()
        start = max(now, self._next)
        self._next = start + messages / self.per_second
        if start > now:
            self.sleep(start - now)


class Sender:
    def __init__(
        self,
        ledger: Ledger,
        provider: Provider,
        substitutions_for: SubstitutionsFor,
        *,
        batch_size: int = 500,
        rate_per_second: float = 0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_progress: Callable[[SendOutcome], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.ledger = ledger
        self.provider = provider
        self.substitutions_for = substitutions_for
        self.batch_size = min(batch_size, provider.max_batch_size)
        self.limiter = RateLimiter(rate_per_second, sleep=sleep)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.on_progress = on_progress
        self.should_stop = should_stop

    def run(self, run_id: int, template: MessageTemplate) -> SendOutcome:
        """Send until the ledger has nothing left to claim, the campaign pauses, or a stop.

        All database work stays on this thread (SQLite serializes writers); the one helper
        thread only makes the request, so the next claim overlaps the network wait.
        """
        outcome = SendOutcome(run_id)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailer-send") as requests:
            in_flight: tuple[list[Recipient], Future[BatchResult]] | None = None
            while True:
                prepared = None if self.should_stop() else self._prepare(run_id, outcome)
                if in_flight is not None:
                    delivered = self._finish(run_id, template, *in_flight, outcome)
                    in_flight = None
                    if self.on_progress:
                        self.on_progress(outcome)
                    if not delivered:  # paused: the batch prepared meanwhile goes back
                        if prepared:
                            self.ledger.release(run_id, [_id(r) for r in prepared])
                        return outcome
                if not prepared:
                    break
                started = self.ledger.mark_in_flight(run_id, [_id(r) for r in prepared])
                pending = [r for r in prepared if _id(r) in started]
                if pending:
                    self.limiter.wait_for(len(pending))
                    request = requests.submit(self.provider.send_batch, template, pending)
                    in_flight = (pending, request)
        outcome.finished = self.ledger.finish_if_done(run_id)
        return outcome

    def _prepare(self, run_id: int, outcome: SendOutcome) -> list[Recipient]:
        """Claim the next batch and build its recipients (empty: nothing left to claim)."""
        claim = self.ledger.claim(run_id, self.batch_size)
        outcome.reclaimed += claim.reclaimed
        return [
            Recipient(
                email=person.email,
                name=" ".join(part for part in (person.first_name, person.last_name) if part),
                subscriber_id=person.subscriber_id,
                substitutions=self.substitutions_for(person),
            )
            for person in claim.recipients
        ]

    def _finish(
        self,
        run_id: int,
        template: MessageTemplate,
        pending: list[Recipient],
        request: Future[BatchResult],
        outcome: SendOutcome,
    ) -> bool:
        """Wait for a batch's request, retrying what is worth retrying. False: the run paused."""
        attempt = 0
        while pending:
            try:
                result = request.result()
            except ProviderError as err:
                if err.partial is not None:
                    # A per-message provider got part-way: record those before anything else.
                    pending = self._record(run_id, pending, err.partial, outcome)
                if isinstance(err, RateLimited):
                    wait = min(err.retry_after, self.retry.max_rate_limit_wait)
                    log.info("provider rate limit: waiting %.1f s", wait)
                    outcome.rate_limited_waits += 1
                    self.sleep(wait)
                elif isinstance(err, TransientProviderError):
                    attempt += 1
                    outcome.retries += 1
                    if attempt >= self.retry.max_attempts:
                        reason = f"{attempt} attempts failed; last: {err}"
                        return self._pause(run_id, pending, reason, outcome)
                    delay = self.retry.backoff(attempt)
                    log.warning("provider fault (%s): retry %d in %.1f s", err, attempt, delay)
                    self.sleep(delay)
                else:
                    return self._pause(run_id, pending, str(err), outcome)
                if pending:  # the retry runs here, alone: nothing else is in flight
                    self.limiter.wait_for(len(pending))
                    request = _call(self.provider.send_batch, template, pending)
                continue
            self._record(run_id, pending, result, outcome)
            return True
        return True

    def _record(
        self,
        run_id: int,
        sent_to: list[Recipient],
        result: BatchResult,
        outcome: SendOutcome,
    ) -> list[Recipient]:
        """Write what the provider did with a batch; return the recipients it has not taken."""
        accepted = {_id(r) for r in result.accepted}
        refused = {_id(f.recipient): f for f in result.refused}
        if accepted:
            self.ledger.mark_sent(run_id, accepted, result.provider_message_id or "")
        final = {sid: f.reason for sid, f in refused.items() if f.permanent}
        self.ledger.mark_failed(run_id, final)
        later = [sid for sid, f in refused.items() if not f.permanent]
        if later:  # a temporary refusal of one address: back to the queue for a later claim
            self.ledger.release(run_id, later, "temporarily refused; will retry")
        outcome.sent += len(accepted)
        outcome.failed += len(final)
        return [r for r in sent_to if _id(r) not in accepted and _id(r) not in refused]

    def _pause(
        self, run_id: int, pending: list[Recipient], reason: str, outcome: SendOutcome
    ) -> bool:
        self.ledger.release(run_id, [_id(r) for r in pending], reason)
        self.ledger.set_state(run_id, SendState.PAUSED, reason)
        outcome.paused_reason = reason
        log.error("campaign paused: %s", reason)
        return False


def _id(recipient: Recipient) -> int:
    assert recipient.subscriber_id is not None, "ledger recipients always carry their id"
    return recipient.subscriber_id


def _call(
    send: Callable[[MessageTemplate, list[Recipient]], BatchResult],
    template: MessageTemplate,
    recipients: list[Recipient],
) -> Future[BatchResult]:
    """Run a request on this thread, with its outcome in a Future like a pooled one."""
    future: Future[BatchResult] = Future()
    try:
        future.set_result(send(template, recipients))
    except ProviderError as err:
        future.set_exception(err)
    return future
