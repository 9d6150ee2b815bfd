"""The send loop: claim a batch from the ledger, hand it to the provider, record the answer.

It depends on two narrow things its caller gives it (as in listmonk's manager): a ledger
(``LedgerPort``, delivery/ports.py: the SQL ledger in production, an in-memory one in tests)
and a ``Provider`` (delivery/providers/base.py). Order of writes is what makes "exactly once"
hold through crashes.

With a batch provider (SendGrid: one request per batch):

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

With a per-message provider (SMTP, the outbox) each message is its own transaction with the
server, so each is recorded on its own: after the claim (1), one write per message records
what became of the previous message and moves this recipient alone to SENDING
(``MessageLog.advance``), then the message goes. At any moment at most one row is SENDING and every
message the server accepted before it is SENT, so a crash can duplicate at most the one message
in flight (counted as above), not a whole batch. A stop (SIGTERM, Ctrl-C) takes effect between
two messages; the rest of the batch goes back to the queue. A provider with several
``connections`` (``[smtp] connections``) keeps that many messages in flight under the same rules,
so a crash can duplicate at most that many (in_flight.py).

The rate limit is a cap: no one-second window ever holds more than ``rate_per_second``
recipients handed to the provider (requests are cut to fit; see RateLimiter in rate.py).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from mailer.delivery.in_flight import Done as _Done
from mailer.delivery.in_flight import recipient_id as _id
from mailer.delivery.in_flight import send_side_by_side
from mailer.delivery.ports import ClaimedRecipient, LedgerPort, MessageLogPort
from mailer.delivery.providers.base import (
    BatchResult,
    PerMessageProvider,
    Provider,
    ProviderError,
    RateLimited,
    RecipientFailure,
    RecipientRefused,
    TransientProviderError,
)
from mailer.delivery.rate import RateLimiter
from mailer.delivery.types import MessageTemplate, Recipient

log = logging.getLogger("mailer.delivery")

SubstitutionsFor = Callable[[ClaimedRecipient], dict[str, str]]
# Told of addresses refused for good (``RecipientFailure.bounced``) before they are recorded as
# failed, so the caller can suppress them as a bounce webhook event would.
OnBounced = Callable[[int, list[RecipientFailure]], None]


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


class Sender:
    def __init__(
        self,
        ledger: LedgerPort,
        provider: Provider,
        substitutions_for: SubstitutionsFor,
        *,
        batch_size: int = 500,
        rate_per_second: float = 0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_progress: Callable[[SendOutcome], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_bounced: OnBounced | None = None,
    ) -> None:
        self.ledger = ledger
        self.provider = provider
        self.substitutions_for = substitutions_for
        self.limiter = RateLimiter(rate_per_second, sleep=sleep)
        self.batch_size = min(batch_size, provider.max_batch_size)
        if self.limiter.capacity:  # no request holds more than the cap: the rest waits its turn
            self.batch_size = min(self.batch_size, self.limiter.capacity)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.on_bounced = on_bounced
        # A batch's accepted ids not yet written (with its message id): see ``_start``.
        self._unrecorded: tuple[set[int], str] | None = None

    def run(self, run_id: int, template: MessageTemplate) -> SendOutcome:
        """Send until the ledger has nothing left to claim, the campaign pauses, or a stop."""
        outcome = SendOutcome(run_id)
        if isinstance(self.provider, PerMessageProvider):
            delivered = self._run_per_message(self.provider, run_id, template, outcome)
        else:
            delivered = self._run_batches(run_id, template, outcome)
        if delivered:
            outcome.finished = self.ledger.finish_if_done(run_id)
        return outcome

    def _run_batches(self, run_id: int, template: MessageTemplate, outcome: SendOutcome) -> bool:
        """One request per batch. False: the run paused.

        All database work stays on this thread (SQLite serializes writers); the one helper
        thread only makes the request, so the next claim overlaps the network wait.
        """
        self._unrecorded = None
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
                        return False
                    if prepared == []:
                        # Nothing was left when the request went out, but it may have given
                        # recipients back (refused for now): claim once more, or they would
                        # wait, queued, in a run that is neither finished nor paused.
                        self._write_unrecorded(run_id)
                        prepared = self._prepare(run_id, outcome)
                if not prepared:
                    self._write_unrecorded(run_id)
                    break
                started = self._start(run_id, [_id(r) for r in prepared])
                pending = [r for r in prepared if _id(r) in started]
                if pending:
                    self.limiter.wait_for(len(pending))
                    request = requests.submit(self.provider.send_batch, template, pending)
                    in_flight = (pending, request)
        return True

    def _start(self, run_id: int, ids: list[int]) -> set[int]:
        """The next batch SENDING, with the last batch's SENT rows in the same write."""
        if self._unrecorded is None:
            return self.ledger.mark_in_flight(run_id, ids)
        sent, message_id = self._unrecorded
        self._unrecorded = None
        return self.ledger.mark_sent_and_start(run_id, sent, message_id, ids)

    def _write_unrecorded(self, run_id: int) -> None:
        if self._unrecorded is not None:
            sent, message_id = self._unrecorded
            self._unrecorded = None
            self.ledger.mark_sent(run_id, sent, message_id)

    def _run_per_message(
        self,
        provider: PerMessageProvider,
        run_id: int,
        template: MessageTemplate,
        outcome: SendOutcome,
    ) -> bool:
        """One message at a time, each recorded before the next goes. False: the run paused.

        Everything runs on this thread: the claim of the next batch costs a few milliseconds
        per batch, against a message's millisecond or more, so there is little to overlap.
        """
        while not self.should_stop():
            batch = self._prepare(run_id, outcome)
            if not batch:
                break
            delivered = self._send_each(provider, run_id, template, batch, outcome)
            if self.on_progress:
                self.on_progress(outcome)
            if not delivered:
                return False
        return True

    def _send_each(
        self,
        provider: PerMessageProvider,
        run_id: int,
        template: MessageTemplate,
        batch: list[Recipient],
        outcome: SendOutcome,
    ) -> bool:
        """Send a claimed batch message by message (see the module docstring). False: paused."""
        with self.ledger.messages(run_id) as record:
            if provider.connections > 1:
                return send_side_by_side(self, record, provider, run_id, template, batch, outcome)
            return self._send_each_on(record, provider, run_id, template, batch, outcome)

    def _send_each_on(
        self,
        record: MessageLogPort,
        provider: PerMessageProvider,
        run_id: int,
        template: MessageTemplate,
        batch: list[Recipient],
        outcome: SendOutcome,
    ) -> bool:
        done = _Done()  # what became of the messages since the last write
        attempt = 0
        index = 0
        started = False  # batch[index] is SENDING (its message went at least once)
        while index < len(batch):
            if self.should_stop():
                break
            recipient = batch[index]
            if not started:
                if done and self.limiter.would_wait(1):
                    self._advance(record, done, None, outcome)  # never wait with news unsaved
                self.limiter.wait_for(1)
                if not self._advance(record, done, recipient, outcome):
                    index += 1  # no longer active: skipped, not sent
                    continue
                started = True
            try:
                provider.send_one(template, recipient)
            except RecipientRefused as refusal:
                done.refused.append(refusal.failure(recipient))
            except ProviderError as err:
                self._advance(record, done, None, outcome)
                attempt, reason = self._back_off(err, attempt, outcome)
                if reason:
                    return self._pause(run_id, batch[index:], reason, outcome)
                self.limiter.wait_for(1)  # the retry hands the same message over again
                continue
            else:
                done.accepted.append(recipient)
            attempt = 0
            started = False
            index += 1
        self._advance(record, done, None, outcome)
        # Stopped: the rest goes back to the queue. A message stopped between retries may have
        # gone: its row stays SENDING, for a resume to take over and count.
        self.ledger.release(run_id, [_id(r) for r in batch[index + (1 if started else 0) :]])
        return True

    def _advance(
        self, record: MessageLogPort, done: _Done, start: Recipient | None, outcome: SendOutcome
    ) -> bool:
        """Record ``done`` and move ``start`` to SENDING (one write); clears ``done``."""
        if not done and start is None:
            return False
        self._bounce(record.run_id, done.refused)
        final = {_id(f.recipient): f.reason for f in done.refused if f.permanent}
        later = [_id(f.recipient) for f in done.refused if not f.permanent]
        go = record.advance(
            sent=[_id(r) for r in done.accepted],
            failed=final,
            later=later,
            start=None if start is None else _id(start),
        )
        outcome.sent += len(done.accepted)
        outcome.failed += len(final)
        done.accepted.clear()
        done.refused.clear()
        return go

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
                attempt, reason = self._back_off(err, attempt, outcome)
                if reason:
                    return self._pause(run_id, pending, reason, outcome)
                if pending:  # the retry runs here, alone: nothing else is in flight
                    self.limiter.wait_for(len(pending))
                    request = _call(self.provider.send_batch, template, pending)
                continue
            self._record(run_id, pending, result, outcome, deferrable=True)
            return True
        return True

    def _back_off(self, err: ProviderError, attempt: int, outcome: SendOutcome) -> tuple[int, str]:
        """Wait as ``err`` calls for before a retry: (attempts so far, a reason to pause or "")."""
        if isinstance(err, RateLimited):
            wait = min(err.retry_after, self.retry.max_rate_limit_wait)
            log.info("provider rate limit: waiting %.1f s", wait)
            outcome.rate_limited_waits += 1
            self.sleep(wait)
            return attempt, ""
        if isinstance(err, TransientProviderError):
            attempt += 1
            outcome.retries += 1
            if attempt >= self.retry.max_attempts:
                return attempt, f"{attempt} attempts failed; last: {err}"
            delay = self.retry.backoff(attempt)
            log.warning("provider fault (%s): retry %d in %.1f s", err, attempt, delay)
            self.sleep(delay)
            return attempt, ""
        return attempt, str(err)

    def _record(
        self,
        run_id: int,
        sent_to: list[Recipient],
        result: BatchResult,
        outcome: SendOutcome,
        deferrable: bool = False,
    ) -> list[Recipient]:
        """Write what the provider did with a batch; return the recipients it has not taken."""
        accepted = {_id(r) for r in result.accepted}
        refused = {_id(f.recipient): f for f in result.refused}
        if accepted and not refused and deferrable:
            # Written with the next batch's start (``_start``), or alone when there is none:
            # one commit between two requests instead of two.
            self._unrecorded = (accepted, result.provider_message_id or "")
        elif accepted:
            self.ledger.mark_sent(run_id, accepted, result.provider_message_id or "")
        self._bounce(run_id, result.refused)
        final = {sid: f.reason for sid, f in refused.items() if f.permanent}
        self.ledger.mark_failed(run_id, final)
        later = [sid for sid, f in refused.items() if not f.permanent]
        if later:  # a temporary refusal of one address: back to the queue for a later claim
            self.ledger.release(run_id, later, "temporarily refused; will retry")
        outcome.sent += len(accepted)
        outcome.failed += len(final)
        return [r for r in sent_to if _id(r) not in accepted and _id(r) not in refused]

    def _bounce(self, run_id: int, refused: Sequence[RecipientFailure]) -> None:
        """Addresses refused for good: suppressed (by the caller) before they are recorded, so
        a crash in between leaves the row to a resume, which skips the now bounced person."""
        bounced = [f for f in refused if f.bounced]
        if bounced and self.on_bounced is not None:
            self.on_bounced(run_id, bounced)

    def _pause(
        self, run_id: int, pending: list[Recipient], reason: str, outcome: SendOutcome
    ) -> bool:
        self.ledger.release(run_id, [_id(r) for r in pending], reason)
        self.ledger.pause(run_id, reason)
        outcome.paused_reason = reason
        log.error("campaign paused: %s", reason)
        return False


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
