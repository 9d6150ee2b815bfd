"""The send loop: claim a batch from the ledger, hand it to the provider, record the answer.

It depends on two narrow things its caller gives it (as in listmonk's manager): a Ledger and a
Provider. Order of writes is what makes "exactly once" hold through crashes:

1. claim: the batch's rows become SENDING with a lease (committed) before any request;
2. the provider accepts the request;
3. the rows become SENT (committed).

A crash between 1 and 3 leaves SENDING rows, which a resumed send reclaims and sends again:
those, the one request in flight, are the only possible duplicates, and they are counted.
Nobody is skipped, because nothing but step 3 ever moves a row past SENDING, except a refusal.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
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
        self._lock = threading.Lock()

    def wait_for(self, messages: int) -> None:
        if self.per_second <= 0:
            return
        with self._lock:  # each caller books its slot; waiting happens outside the lock
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
        concurrency: int = 2,
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
        # Batches in flight at once: while one request waits on the network, the next batch is
        # claimed and built. Only for providers that say they are safe to share between threads.
        self.concurrency = max(1, concurrency) if provider.thread_safe else 1
        self._lock = threading.Lock()
        self._paused = threading.Event()

    def run(self, run_id: int, template: MessageTemplate) -> SendOutcome:
        """Send until the ledger has nothing left to claim, the campaign pauses, or a stop."""
        outcome = SendOutcome(run_id)
        self._paused.clear()
        if self.concurrency == 1:
            self._loop(run_id, template, outcome)
        elif self._loop(run_id, template, outcome, batches=1):
            # The first batch went alone: a wrong key or a refused message costs one request.
            errors: list[BaseException] = []

            def loop() -> None:
                try:
                    self._loop(run_id, template, outcome)
                except BaseException as err:  # re-raised in the calling thread below
                    errors.append(err)
                    self._paused.set()

            threads = [threading.Thread(target=loop) for _ in range(self.concurrency)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
        if not outcome.paused_reason:
            outcome.finished = self.ledger.finish_if_done(run_id)
        return outcome

    def _loop(
        self,
        run_id: int,
        template: MessageTemplate,
        outcome: SendOutcome,
        batches: int | None = None,
    ) -> bool:
        """Claim and deliver batches (at most ``batches``). True while there may be more."""
        done = 0
        while not self.should_stop() and not self._paused.is_set():
            if batches is not None and done >= batches:
                return True
            claim = self.ledger.claim(run_id, self.batch_size)
            if not claim.recipients:
                return False
            with self._lock:
                outcome.reclaimed += claim.reclaimed
            if not self._deliver(run_id, template, claim.recipients, outcome):
                self._paused.set()
                return False
            done += 1
            if self.on_progress:
                with self._lock:
                    self.on_progress(outcome)
        return False

    def _deliver(
        self,
        run_id: int,
        template: MessageTemplate,
        batch: list[ClaimedRecipient],
        outcome: SendOutcome,
    ) -> bool:
        """Send one claimed batch, retrying what is worth retrying. False: the run paused."""
        pending = [
            Recipient(
                email=person.email,
                name=" ".join(part for part in (person.first_name, person.last_name) if part),
                subscriber_id=person.subscriber_id,
                substitutions=self.substitutions_for(person),
            )
            for person in batch
        ]
        attempt = 0
        while pending:
            self.limiter.wait_for(len(pending))
            try:
                result = self.provider.send_batch(template, pending)
            except ProviderError as err:
                if err.partial is not None:
                    # A per-message provider got part-way: record those before anything else.
                    pending = self._record(run_id, pending, err.partial, outcome)
                if isinstance(err, RateLimited):
                    wait = min(err.retry_after, self.retry.max_rate_limit_wait)
                    log.info("provider rate limit: waiting %.1f s", wait)
                    with self._lock:
                        outcome.rate_limited_waits += 1
                    self.sleep(wait)
                    continue
                if isinstance(err, TransientProviderError):
                    attempt += 1
                    with self._lock:
                        outcome.retries += 1
                    if attempt >= self.retry.max_attempts:
                        return self._pause(
                            run_id, pending, f"{attempt} attempts failed; last: {err}", outcome
                        )
                    delay = self.retry.backoff(attempt)
                    log.warning("provider fault (%s): retry %d in %.1f s", err, attempt, delay)
                    self.sleep(delay)
                    continue
                return self._pause(run_id, pending, str(err), outcome)
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
        with self._lock:
            outcome.sent += len(accepted)
            outcome.failed += len(final)
        return [r for r in sent_to if _id(r) not in accepted and _id(r) not in refused]

    def _pause(
        self, run_id: int, pending: list[Recipient], reason: str, outcome: SendOutcome
    ) -> bool:
        self.ledger.release(run_id, [_id(r) for r in pending], reason)
        self.ledger.set_state(run_id, SendState.PAUSED, reason)
        with self._lock:
            outcome.paused_reason = outcome.paused_reason or reason
        log.error("campaign paused: %s", reason)
        return False


def _id(recipient: Recipient) -> int:
    assert recipient.subscriber_id is not None, "ledger recipients always carry their id"
    return recipient.subscriber_id
