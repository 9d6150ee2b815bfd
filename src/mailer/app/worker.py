"""`mailer worker`'s loop: send every campaign that is sending, claim again at once while
anything was sent, and only when a pass found nothing wait for work.

The wait is ``Wakeups.wait`` (delivery/ledger/wakeup.py): on PostgreSQL a NOTIFY from
``mailer send --enqueue`` ends it at once, and ``poll`` seconds are the fallback (a lapsed
lease, a dead worker's rows, a run queued while this worker was busy); on SQLite, polling.
Several workers, on several machines, share one PostgreSQL database: each claims its own
batches (FOR UPDATE SKIP LOCKED), so exactly-once does not depend on how they are woken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sending import work_on_active_runs
from mailer.delivery.ledger.wakeup import Wakeups
from mailer.workspace import Workspace


@dataclass
class WorkerOutcome:
    passes: int = 0  # passes over the sending campaigns
    idle_waits: int = 0  # waits for work (ended by a notice, a stop or the poll)
    woken: int = 0  # of those, ended by a notice

    def as_dict(self) -> dict[str, int]:
        return {"passes": self.passes, "idle_waits": self.idle_waits, "woken": self.woken}


def run_worker(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    *,
    poll: float = 5.0,
    once: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    wakeups: Wakeups | None = None,
) -> WorkerOutcome:
    """Work until ``should_stop`` (or, with ``once``, until a pass finds nothing to send)."""
    outcome = WorkerOutcome()
    with wakeups or Wakeups(sessions) as waiting:
        while not should_stop():
            outcome.passes += 1
            if work_on_active_runs(workspace, sessions, should_stop=should_stop):
                continue  # something was sent: there may be more, look again at once
            if once:
                break
            outcome.idle_waits += 1
            outcome.woken += waiting.wait(poll, should_stop)
    return outcome
