"""The send loop's per-message path with several messages in flight (a provider whose
``connections`` is above 1, e.g. ``[smtp] connections = 4``); engine.py keeps the rest.

The rules of the one-at-a-time path hold, widened from one message to ``connections``:

- all database work stays on the calling thread (SQLite serializes writers); the provider's
  ``send_one`` runs on up to ``connections`` helper threads, each message on its own;
- before a message goes, one write records what became of the messages that finished since the
  last write and moves this recipient alone to SENDING (``MessageLog.advance``); so at most
  ``connections`` rows are SENDING at any moment, and every message the server accepted before
  them is SENT or about to be with the next write. A crash can duplicate at most those
  ``connections`` messages (counted by the resume as possible duplicates), never skip one;
- each message's outcome (accepted, refused for now, refused for good, bounced) is recorded once,
  for that recipient, whatever order the answers come back in;
- after a whole-batch error (a ProviderError) no new message starts; the ones in flight finish
  and are recorded, then the failed ones go again after the back-off (they are SENDING already,
  so they are not moved again), or the run pauses and everything not answered goes back;
- a stop lets the messages in flight finish and gives the rest of the batch back; a message
  stopped between retries stays SENDING, for a resume to take over and count.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailer.delivery.ports import MessageLogPort
from mailer.delivery.providers.base import (
    PerMessageProvider,
    ProviderError,
    RecipientFailure,
    RecipientRefused,
)
from mailer.delivery.types import MessageTemplate, Recipient

if TYPE_CHECKING:
    from mailer.delivery.engine import Sender, SendOutcome


@dataclass
class Done:
    """A per-message send's outcomes not yet committed."""

    accepted: list[Recipient] = field(default_factory=list)
    refused: list[RecipientFailure] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.accepted or self.refused)


def recipient_id(recipient: Recipient) -> int:
    assert recipient.subscriber_id is not None, "ledger recipients always carry their id"
    return recipient.subscriber_id


def send_side_by_side(
    sender: Sender,
    record: MessageLogPort,
    provider: PerMessageProvider,
    run_id: int,
    template: MessageTemplate,
    batch: list[Recipient],
    outcome: SendOutcome,
) -> bool:
    """Send a claimed batch with up to ``provider.connections`` messages in flight (see the
    module docstring). False: the run paused."""
    done = Done()
    waiting = deque(batch)  # not handed over (again) yet
    retrying: set[int] = set()  # SENDING; their last try failed as a whole: they go again
    in_flight: dict[Future[str], Recipient] = {}
    attempt = 0
    with ThreadPoolExecutor(provider.connections, thread_name_prefix="mailer-send") as pool:
        while True:
            while waiting and len(in_flight) < provider.connections and not sender.should_stop():
                recipient = waiting[0]
                if recipient_id(recipient) not in retrying:
                    if done and sender.limiter.would_wait(1):
                        sender._advance(record, done, None, outcome)  # never wait with news unsaved
                    sender.limiter.wait_for(1)
                    if not sender._advance(record, done, recipient, outcome):
                        waiting.popleft()  # no longer active: skipped, not sent
                        continue
                else:
                    sender.limiter.wait_for(1)  # the retry hands the same message over again
                waiting.popleft()
                in_flight[pool.submit(provider.send_one, template, recipient)] = recipient
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            failed = _collect(finished, in_flight, done, retrying)
            if not failed:
                if not retrying:
                    attempt = 0
                continue
            # A whole-batch error: start nothing new, let the others finish and record them all.
            failed += _collect(set(in_flight), in_flight, done, retrying)
            sender._advance(record, done, None, outcome)
            attempt, reason = sender._back_off(failed[0][1], attempt, outcome)
            again = [recipient for recipient, _ in failed]
            if reason:
                return sender._pause(run_id, [*again, *waiting], reason, outcome)
            retrying.update(recipient_id(r) for r in again)
            waiting.extendleft(reversed(again))
    sender._advance(record, done, None, outcome)
    # Stopped: the rest goes back to the queue, except messages stopped between retries (they
    # may have gone; they stay SENDING for a resume to take over and count).
    sender.ledger.release(
        run_id, [recipient_id(r) for r in waiting if recipient_id(r) not in retrying]
    )
    return True


def _collect(
    finished: set[Future[str]],
    in_flight: dict[Future[str], Recipient],
    done: Done,
    retrying: set[int],
) -> list[tuple[Recipient, ProviderError]]:
    """Move the answers of ``finished`` (waiting for each) into ``done``; return the
    whole-batch errors."""
    failed: list[tuple[Recipient, ProviderError]] = []
    for future in finished:
        recipient = in_flight.pop(future)
        try:
            future.result()
        except RecipientRefused as refusal:
            done.refused.append(refusal.failure(recipient))
        except ProviderError as err:
            failed.append((recipient, err))
            continue
        else:
            done.accepted.append(recipient)
        retrying.discard(recipient_id(recipient))
    return failed
