"""One active scheduler per database: a lease row its holder renews, the others wait.

Works the same on SQLite and PostgreSQL (a compare-and-set UPDATE), and `mailer scheduler status`
can show who holds it. A holder that dies stops renewing: a standby takes over once the lease
has lapsed (30 s by default), or at once when the dead holder was a process on the same host.

Times are this machine's clock; with several machines, keep them in NTP sync (skew of a few
seconds against a 30 s lease is harmless).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import SchedulerLease, utcnow

SCHEDULER = "scheduler"
DEFAULT_TTL = timedelta(seconds=30)


def this_process() -> str:
    """A lease owner name: host and pid, so a dead owner on this host can be recognized."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead_here(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def process_owner() -> str:
    """host:pid:nonce: unique per process, and a dead holder on this host is recognizable."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead_here(owner: str) -> bool:
    host_pid, _, _nonce = owner.rpartition(":")
    return bool(host_pid) and owner_is_dead_here(host_pid)


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    host: str
    pid: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        return self.expires_at > now and not holder_is_dead_here(self.owner)


class Lease:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        name: str = SCHEDULER,
        ttl: timedelta = DEFAULT_TTL,
        owner: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.name = name
        self.ttl = ttl
        self.owner = owner or process_owner()

    def try_acquire(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free, lapsed, ours, or held by a dead process on this host."""
        now = now or utcnow()
        holder = self.holder()
        if holder is None:
            return self._insert(now)
        if holder.owner != self.owner and holder.is_live(now):
            return False
        with self.sessions.begin() as session:
            taken = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.owner == holder.owner)
                .where(SchedulerLease.expires_at == holder.expires_at)
                .values(
                    owner=self.owner,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    acquired_at=now if holder.owner != self.owner else holder.acquired_at,
                    renewed_at=now,
                    expires_at=now + self.ttl,
                )
                .execution_options(synchronize_session=False)
            )
            return bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    def _insert(self, now: datetime) -> bool:
        try:
            with self.sessions.begin() as session:
                session.add(
                    SchedulerLease(
                        name=self.name,
                        owner=self.owner,
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        acquired_at=now,
                        renewed_at=now,
                        expires_at=now + self.ttl,
                    )
                )
        except IntegrityError:
            return False  # somebody else inserted it first
        return True

    def renew(self, now: datetime | None = None) -> bool:
        """Extend our lease. False: it is no longer ours (we lapsed and were replaced)."""
        now = now or utcnow()
        with self.sessions.begin() as session:
            result = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.owner == self.owner)
                .values(renewed_at=now, expires_at=now + self.ttl)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release(self, now: datetime | None = None) -> None:
        """Step down: a standby may take over at its next look, without waiting for the TTL.

        ``now``: the clock the lease was taken with (a lease taken at an injected time must
        lapse by that clock, not this machine's).
        """
        now = now or utcnow()
        with self.sessions.begin() as session:
            session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.owner == self.owner)
                .values(expires_at=now - timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )

    def holder(self) -> LeaseHolder | None:
        with self.sessions() as session:
            row = session.scalars(
                select(SchedulerLease).where(SchedulerLease.name == self.name)
            ).one_or_none()
            if row is None:
                return None
            return LeaseHolder(
                owner=row.owner,
                host=row.host,
                pid=row.pid,
                acquired_at=row.acquired_at,
                renewed_at=row.renewed_at,
                expires_at=row.expires_at,
            )
