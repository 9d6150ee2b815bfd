"""The per-message record: with SMTP or the outbox, each message is recorded before the next.

``Ledger.messages(run_id)`` holds one connection for a claimed batch and yields a MessageLog,
whose ``advance`` is one write per message (see its docstring for why that is safe).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from mailer.delivery.ledger.base import LedgerBase
from mailer.delivery.ledger.statements import statements
from mailer.store.models import DeliveryState, utcnow


class Messages(LedgerBase):
    @contextmanager
    def messages(self, run_id: int) -> Iterator[MessageLog]:
        """Where a per-message send records its batch as it goes: one connection, held for the
        batch, in autocommit mode (see MessageLog)."""
        with self.sessions() as session:
            bind = session.get_bind()
            assert isinstance(bind, Engine)
            with bind.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                postgresql = connection.dialect.name == "postgresql"
                if postgresql:
                    connection.exec_driver_sql("SET synchronous_commit TO OFF")
                try:
                    yield MessageLog(connection, run_id, self.owner)
                finally:
                    if postgresql and not connection.invalidated:
                        connection.exec_driver_sql("RESET synchronous_commit")


class MessageLog:
    """A per-message provider's record, one write per message (``advance``).

    Each write is one statement in autocommit mode: on PostgreSQL one round trip, no BEGIN or
    COMMIT of its own, with no connection checkout (and ping) per message. Statements that
    change different rows need no common transaction: each leaves the ledger correct on its
    own if the process dies right after it.

    On PostgreSQL these commits do not wait for the WAL flush (``synchronous_commit`` off, on
    this connection only), as SQLite's ``synchronous=NORMAL`` does not fsync each commit: a
    crash of mailer loses none of them (the server has them); only a crash of the database
    server or its machine can lose the last fraction of a second of them (the WAL writer
    flushes every 200 ms), whose messages then go again: still far fewer than the batch a crash
    used to re-send. Waiting for the flush cost 1-3 ms per message here (docs/benchmarks.md).
    """

    def __init__(self, connection: Connection, run_id: int, owner: str) -> None:
        self.connection = connection
        self.run_id = run_id
        self.owner = owner
        self.sql = statements(connection.dialect.name)

    def advance(
        self,
        *,
        sent: Sequence[int] = (),
        failed: dict[int, str] | None = None,
        later: Sequence[int] = (),
        start: int | None = None,
    ) -> bool:
        """Record what became of the messages since the last call (``sent``; ``failed`` for
        good, with why; ``later``: refused for now, back to the queue), and move ``start``, the
        next recipient, to SENDING just before its own message, or skip it when no longer
        active. True when ``start`` is to be sent. Sent rows and ``start`` go in one UPDATE.

        So at any moment at most one row is SENDING and every message accepted before it is
        SENT: a crash leaves at most the one message in flight to be sent again (and counted).
        """
        run_id, execute, sql = self.run_id, self.connection.execute, self.sql
        if failed:
            execute(
                sql.fail_one,
                [
                    {"run_id": run_id, "sid": sid, "error": why[:2000]}
                    for sid, why in failed.items()
                ],
            )
        if later:
            error = "temporarily refused; will retry"
            execute(sql.release, {"run_id": run_id, "ids": list(later), "error": error})
        now = utcnow()
        if len(sent) > 1 or (sent and start is None):
            execute(
                sql.mark_sent, {"run_id": run_id, "ids": list(sent), "message_id": "", "now": now}
            )
            sent = ()
        if start is None:
            return False
        params = {"run_id": run_id, "owner": self.owner, "now": now}
        prev = sent[0] if sent else None
        changed = execute(sql.advance, {**params, "prev": prev, "start": start})
        if (start, DeliveryState.SENDING) in {(row[0], row[1]) for row in changed}:
            return True
        execute(sql.skip_gone, {**params, "ids": [start]})
        return False
