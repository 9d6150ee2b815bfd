"""What every part of the SQL ledger shares: the session factory and the lease owner's name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker


class LedgerBase:
    """The ledger's state: its sessions and the owner name its leases carry (host:pid)."""

    sessions: sessionmaker[Session]
    owner: str
    leases: dict[int, timedelta]  # run id -> the lease this ledger's claims of it take

    def dialect(self) -> str:
        """ "postgresql" or "sqlite": the ledger takes a shorter path on PostgreSQL (pg.py)."""
        with self.sessions() as session:
            return session.get_bind().dialect.name

    @contextmanager
    def alone(self) -> Iterator[Connection]:
        """A connection in autocommit mode, for statements that are a whole transaction on
        their own: one round trip each, with no BEGIN and COMMIT around it (pg.py)."""
        with self.sessions() as session:
            bind = session.get_bind()
            assert isinstance(bind, Engine)
            with bind.connect() as connection:
                yield connection.execution_options(isolation_level="AUTOCOMMIT")
