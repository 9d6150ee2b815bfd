"""What every part of the SQL ledger shares: the session factory and the lease owner's name."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker


class LedgerBase:
    """The ledger's state: its sessions and the owner name its leases carry (host:pid)."""

    sessions: sessionmaker[Session]
    owner: str
