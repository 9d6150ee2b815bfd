"""The ports the send loop depends on: a ledger (this module) and a provider.

The engine (``delivery/engine.py``) sees only these: ``LedgerPort`` for who is left to send
and what became of each recipient, and ``Provider`` (``delivery/providers/base.py``, an ABC
whose base class owns the batch loop) for handing messages over. The SQL ledger
(``delivery/ledger/``) implements ``LedgerPort`` on SQLite and PostgreSQL; the tests' in-memory
ledger (``tests/fakes/ledger.py``) implements it in a dict, with the same rules.

The rules every ledger keeps (``tests/contract/`` checks them on each one):

- a recipient is leased to one owner at a time: two claimers never get the same row;
- a lease that ran out, or whose owner died on this machine, is claimable again; rows taken
  over in SENDING may have been sent and are counted as possible duplicates; a recipient
  claimed ``MAX_CLAIMS`` times without being accepted is given up (FAILED);
- a claim never returns a recipient who is no longer active: it marks them SKIPPED;
- only QUEUED and leased (CLAIMED, SENDING) rows are ever claimed, so a SENT, FAILED or SKIPPED
  recipient never gets the message again; ``release`` gives back leased rows only;
- ``mark_in_flight`` (just before a request) and ``MessageLog.advance`` (just before one
  message) move only this owner's CLAIMED rows to SENDING, and only while still active;
  ``mark_sent_and_start`` is ``mark_sent`` of one batch and ``mark_in_flight`` of the next in
  one transaction: both happen, or neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

# A recipient claimed this many times without being accepted (temporary refusals) is given up.
MAX_CLAIMS = 8


@dataclass(frozen=True)
class ClaimedRecipient:
    subscriber_id: int
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class Claim:
    recipients: list[ClaimedRecipient]
    reclaimed: int  # rows taken over from a dead owner: they may have been sent already


class MessageLogPort(Protocol):
    """Where a per-message send records each message before the next goes (see MessageLog)."""

    @property
    def run_id(self) -> int: ...

    def advance(
        self,
        *,
        sent: Sequence[int] = (),
        failed: dict[int, str] | None = None,
        later: Sequence[int] = (),
        start: int | None = None,
    ) -> bool:
        """Record ``sent``, ``failed`` (for good, with why) and ``later`` (back to the queue),
        then move ``start`` to SENDING if still active. True when ``start`` is to be sent."""
        ...


class LedgerPort(Protocol):
    """What the send loop asks of its ledger, for one campaign run at a time."""

    def claim(self, run_id: int, limit: int) -> Claim:
        """Up to ``limit`` active recipients in subscriber-id order, leased to this owner;
        empty when nothing is left to claim (now)."""
        ...

    def mark_in_flight(self, run_id: int, subscriber_ids: Iterable[int]) -> set[int]:
        """Just before a request: this owner's claimed rows still active become SENDING (the
        ids returned); the others are skipped."""
        ...

    def mark_sent(self, run_id: int, subscriber_ids: Iterable[int], message_id: str) -> None:
        """The provider accepted them: SENT, never sent again."""
        ...

    def mark_sent_and_start(
        self, run_id: int, sent: Iterable[int], message_id: str, start: Iterable[int]
    ) -> set[int]:
        """``mark_sent(sent)`` then ``mark_in_flight(start)`` as one write (one commit per
        batch instead of two); the ids of ``start`` to send."""
        ...

    def mark_failed(self, run_id: int, failures: dict[int, str]) -> None:
        """The provider refused these addresses for good (subscriber id -> why)."""
        ...

    def release(self, run_id: int, subscriber_ids: Iterable[int], error: str = "") -> None:
        """Give leased rows back to the queue: the provider did not take them."""
        ...

    def pause(self, run_id: int, reason: str) -> None:
        """The run stops until a person resumes it (`mailer send` again)."""
        ...

    def finish_if_done(self, run_id: int) -> bool:
        """Mark the run finished when no row is queued or in flight; whether it is."""
        ...

    def messages(self, run_id: int) -> AbstractContextManager[MessageLogPort]:
        """The per-message record of one claimed batch (held while the batch goes)."""
        ...
