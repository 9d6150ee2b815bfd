"""Waking idle workers: LISTEN/NOTIFY on PostgreSQL, polling as the fallback (and on SQLite).

A worker that found nothing to send waits in ``Wakeups.wait`` until a run is queued (``mailer
send --enqueue`` NOTIFYs ``pg.CHANNEL`` in the transaction that fixes the audience, so the
notice arrives once the rows are there to claim), a stop, or ``poll`` seconds: a worker that
was busy when the notice went out, a lapsed lease or a dead worker's rows still reach a
worker within one poll. Measured 2026-12-01: a queued run was picked up 5 s (the poll) after
``--enqueue`` before; now within milliseconds.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.ledger import pg

log = logging.getLogger("mailer.delivery")

# How often a waiting worker looks at its stop flag: SIGTERM is honoured within this.
STOP_CHECK = 0.2


class Wakeups:
    """LISTEN on PostgreSQL (a connection of its own, kept for the worker's life); on SQLite
    only the clock. ``close`` (or ``with``) gives the connection back."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self._raw: Any = None
        self._listener: Any = None
        with sessions() as session:
            bind = session.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            raw = bind.raw_connection()
            listener = raw.driver_connection
            assert listener is not None
            raw.detach()  # ours for the worker's life, never back in the pool LISTENing
            listener.autocommit = True
            listener.execute(f"LISTEN {pg.CHANNEL}")
            self._raw, self._listener = raw, listener

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def wait(self, poll: float, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Until a run is announced (True), a stop, or ``poll`` seconds (False)."""
        deadline = self.clock() + poll
        while not should_stop():
            left = deadline - self.clock()
            if left <= 0:
                return False
            step = min(STOP_CHECK, left)
            if self._listener is None:
                self.sleep(step)
                continue
            try:
                if any(True for _ in self._listener.notifies(timeout=step, stop_after=1)):
                    # Take the other notices already here too: one pass claims for them all.
                    for _ in self._listener.notifies(timeout=0):
                        pass
                    return True
            except Exception as err:  # the connection broke (a restart): poll from now on
                log.warning("no longer listening for queued sends (%s); polling instead", err)
                self.close()
        return False

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw, self._listener = self._raw, None, None
            with contextlib.suppress(Exception):  # already broken: nothing to give back
                raw.close()

    def __enter__(self) -> Wakeups:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def announce(connection: Any, run_id: int) -> None:
    """Tell listening workers that ``run_id`` has work (delivered when the transaction
    commits); a no-op on SQLite, whose workers poll."""
    if connection.dialect.name == "postgresql":
        connection.execute(pg.NOTIFY, {"payload": str(run_id)})
