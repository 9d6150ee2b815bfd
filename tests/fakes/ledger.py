"""An in-memory ledger: ``LedgerPort`` in a few dicts, for millisecond tests of the send loop.

It keeps the rules of delivery/ports.py as the SQL ledger does (tests/contract/ runs the same
checks on both): a recipient leased to one owner at a time, leases that lapse or whose owner
died taken over (those in SENDING counted as possible duplicates), nobody inactive returned by
a claim, SENT, FAILED and SKIPPED never claimed again, a recipient given up after MAX_CLAIMS.

One ``MemoryStore`` is the database: the people, the runs and their rows, behind one lock (as a
database serializes its writers), so several ``InMemoryLedger`` owners on several threads share
it. Its clock is injected; ``is_dead`` says which owners are dead processes (by default, as
the SQL ledger decides it: a host:pid of this machine that no longer exists).

    store = MemoryStore()
    ids = store.add_people(5)
    run_id = store.start()
    Sender(store.ledger(), provider, values).run(run_id, template)
    assert store.counts(run_id)["sent"] == 5
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailer.delivery.ledger import DEFAULT_LEASE
from mailer.delivery.ports import MAX_CLAIMS, Claim, ClaimedRecipient
from mailer.store.leases import owner_is_dead_here
from mailer.store.models import DeliveryState, SendState, SubscriberStatus, utcnow

Q, CLAIMED, SENDING = DeliveryState.QUEUED, DeliveryState.CLAIMED, DeliveryState.SENDING
SENT, FAILED, SKIPPED = DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED
LEASED = frozenset(DeliveryState.LEASED)


@dataclass
class Person:
    email: str
    first_name: str = ""
    last_name: str = ""
    status: str = SubscriberStatus.ACTIVE


@dataclass
class Row:
    """One recipient of one run (the SQL ledger's Delivery row)."""

    subscriber_id: int
    state: str = Q
    lease_owner: str = ""
    lease_until: datetime | None = None
    attempts: int = 0
    error: str = ""
    provider_message_id: str = ""


@dataclass
class Run:
    id: int
    rows: dict[int, Row]  # by subscriber id, in id order
    state: str = SendState.SENDING
    pause_reason: str = ""
    possible_duplicates: int = 0


@dataclass
class MemoryStore:
    """The shared state: what the database holds for the SQL ledger."""

    clock: Callable[[], datetime] = utcnow
    is_dead: Callable[[str], bool] = owner_is_dead_here
    people: dict[int, Person] = field(default_factory=dict)
    runs: dict[int, Run] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add_people(self, count: int, *, status: str = SubscriberStatus.ACTIVE) -> list[int]:
        """``count`` people (ids never reused), their ids."""
        with self.lock:
            first = max(self.people, default=0) + 1
            ids = list(range(first, first + count))
            for sid in ids:
                self.people[sid] = Person(f"reader{sid}@example.com", f"R{sid}", status=status)
            return ids

    def set_status(self, subscriber_id: int, status: str) -> None:
        with self.lock:
            self.people[subscriber_id].status = status

    def erase(self, subscriber_id: int) -> None:
        """A person deleted: gone, with their rows (the SQL ledger's ON DELETE CASCADE)."""
        with self.lock:
            self.people.pop(subscriber_id, None)
            for run in self.runs.values():
                run.rows.pop(subscriber_id, None)

    def start(self, subscriber_ids: Iterable[int] | None = None) -> int:
        """A new run whose audience is fixed now: the active people (or those given)."""
        with self.lock:
            wanted = sorted(self.people if subscriber_ids is None else subscriber_ids)
            audience = [sid for sid in wanted if self.people[sid].status == SubscriberStatus.ACTIVE]
            run_id = max(self.runs, default=0) + 1
            self.runs[run_id] = Run(run_id, {sid: Row(sid) for sid in audience})
            return run_id

    def ledger(
        self, owner: str = "memory-host:1", lease: timedelta = DEFAULT_LEASE
    ) -> InMemoryLedger:
        return InMemoryLedger(self, owner, lease)

    def counts(self, run_id: int) -> dict[str, int]:
        with self.lock:
            counts = dict.fromkeys(DeliveryState.ALL, 0)
            for row in self.runs[run_id].rows.values():
                counts[row.state] += 1
            return counts

    def states(self, run_id: int) -> dict[int, str]:
        """Each recipient's state, by subscriber id."""
        with self.lock:
            return {sid: row.state for sid, row in self.runs[run_id].rows.items()}

    def active(self, subscriber_id: int) -> bool:
        person = self.people.get(subscriber_id)
        return person is not None and person.status == SubscriberStatus.ACTIVE


class InMemoryLedger:
    """``LedgerPort`` for one owner over a MemoryStore (see the module docstring)."""

    def __init__(self, store: MemoryStore, owner: str, lease: timedelta = DEFAULT_LEASE) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease

    def claim(self, run_id: int, limit: int, lease: timedelta | None = None) -> Claim:
        """As the SQL ledger: lapsed leases first, then the queue, then dead owners' rows; in
        subscriber-id order; exhausted rows given up, inactive ones skipped, until a claim
        returns someone or nothing is claimable."""
        store = self.store
        with store.lock:
            run = store.runs[run_id]
            while True:
                now = store.clock()
                rows = self._candidates(run, now, limit)
                if not rows:
                    return Claim([], 0)
                recipients: list[ClaimedRecipient] = []
                reclaimed = 0
                for row in rows:
                    if row.attempts >= MAX_CLAIMS:
                        _settle(row, FAILED, f"gave up after {MAX_CLAIMS} attempts")
                    elif not store.active(row.subscriber_id):
                        row.state, row.error = SKIPPED, "no longer active"
                    else:
                        reclaimed += row.state == SENDING
                        row.state, row.lease_owner = CLAIMED, self.owner
                        row.lease_until = now + (self.lease if lease is None else lease)
                        row.attempts += 1
                        person = store.people[row.subscriber_id]
                        recipients.append(
                            ClaimedRecipient(
                                row.subscriber_id,
                                person.email,
                                person.first_name,
                                person.last_name,
                            )
                        )
                run.possible_duplicates += reclaimed
                if recipients:
                    return Claim(recipients, reclaimed)

    def _candidates(self, run: Run, now: datetime, limit: int) -> list[Row]:
        rows = list(run.rows.values())
        expired = [r for r in rows if r.state in LEASED and r.lease_until and r.lease_until < now]
        if expired:
            return expired[:limit]
        queued = [r for r in rows if r.state == Q]
        if queued:
            return queued[:limit]
        owners = {r.lease_owner for r in rows if r.state in LEASED} - {self.owner}
        dead = {owner for owner in owners if self.store.is_dead(owner)}
        return [r for r in rows if r.state in LEASED and r.lease_owner in dead][:limit]

    def mark_in_flight(self, run_id: int, subscriber_ids: Iterable[int]) -> set[int]:
        started: set[int] = set()
        with self.store.lock:
            for row in self._mine(run_id, subscriber_ids):
                if self.store.active(row.subscriber_id):
                    row.state = SENDING
                    started.add(row.subscriber_id)
                else:
                    row.state, row.error = SKIPPED, "no longer active"
        return started

    def _mine(self, run_id: int, subscriber_ids: Iterable[int]) -> list[Row]:
        rows = self.store.runs[run_id].rows
        found = (rows.get(sid) for sid in subscriber_ids)
        return [r for r in found if r and r.state == CLAIMED and r.lease_owner == self.owner]

    def mark_sent(self, run_id: int, subscriber_ids: Iterable[int], message_id: str) -> None:
        with self.store.lock:
            for row in self._rows(run_id, subscriber_ids):
                _settle(row, SENT)
                row.provider_message_id = message_id

    def mark_sent_and_start(
        self, run_id: int, sent: Iterable[int], message_id: str, start: Iterable[int]
    ) -> set[int]:
        with self.store.lock:  # re-entrant: the two steps as one
            self.mark_sent(run_id, sent, message_id)
            return self.mark_in_flight(run_id, start)

    def mark_failed(self, run_id: int, failures: dict[int, str]) -> None:
        with self.store.lock:
            for row in self._rows(run_id, failures):
                row.state, row.error, row.lease_until = FAILED, failures[row.subscriber_id], None

    def release(self, run_id: int, subscriber_ids: Iterable[int], error: str = "") -> None:
        with self.store.lock:
            for row in self._rows(run_id, subscriber_ids):
                if row.state in LEASED:
                    _settle(row, Q, error)

    def _rows(self, run_id: int, subscriber_ids: Iterable[int]) -> list[Row]:
        rows = self.store.runs[run_id].rows
        return [rows[sid] for sid in subscriber_ids if sid in rows]

    def pause(self, run_id: int, reason: str) -> None:
        with self.store.lock:
            run = self.store.runs[run_id]
            run.state, run.pause_reason = SendState.PAUSED, reason

    def finish_if_done(self, run_id: int) -> bool:
        with self.store.lock:
            run = self.store.runs[run_id]
            if any(row.state in DeliveryState.OPEN for row in run.rows.values()):
                return False
            run.state, run.pause_reason = SendState.FINISHED, ""
            return True

    @contextmanager
    def messages(self, run_id: int) -> Iterator[MemoryMessageLog]:
        yield MemoryMessageLog(self, run_id)


class MemoryMessageLog:
    """``MessageLogPort``: each call changes the store at once, as the SQL one's autocommit."""

    def __init__(self, ledger: InMemoryLedger, run_id: int) -> None:
        self.ledger = ledger
        self.run_id = run_id

    def advance(
        self,
        *,
        sent: Sequence[int] = (),
        failed: dict[int, str] | None = None,
        later: Sequence[int] = (),
        start: int | None = None,
    ) -> bool:
        ledger, run_id = self.ledger, self.run_id
        with ledger.store.lock:
            ledger.mark_failed(run_id, failed or {})
            ledger.release(run_id, later, "temporarily refused; will retry")
            for row in ledger._rows(run_id, sent):
                _settle(row, SENT)
            if start is None:
                return False
            return ledger.mark_in_flight(run_id, [start]) == {start}


def _settle(row: Row, state: str, error: str = "") -> None:
    row.state, row.error, row.lease_owner, row.lease_until = state, error, "", None
