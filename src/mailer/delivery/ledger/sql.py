"""The SQL ledger: LedgerPort on SQLite and PostgreSQL, one part per job (see the package)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.ledger.claims import Claims
from mailer.delivery.ledger.enqueue import Enqueue
from mailer.delivery.ledger.messages import Messages
from mailer.delivery.ledger.queries import Queries
from mailer.delivery.ledger.records import Records
from mailer.store.leases import this_process


class Ledger(Enqueue, Claims, Records, Messages, Queries):
    """The store the send loop depends on (it implements ``LedgerPort``); all of its SQL lives
    in this package. ``owner`` names this process in the leases it takes (host:pid)."""

    def __init__(self, sessions: sessionmaker[Session], owner: str | None = None) -> None:
        self.sessions = sessions
        self.owner = owner or this_process()
        self.leases = {}
