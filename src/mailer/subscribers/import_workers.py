"""The processes that validate a large import's addresses, and their end with the import.

Files over PARALLEL_FROM_LINES lines check their addresses (email-validator) in worker
processes, two unless the caller says, while the import writes the chunk before.
"""

from __future__ import annotations

import os
import select as io_select
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context

# Files with more data lines than this validate addresses in worker processes.
PARALLEL_FROM_LINES = 50_000


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def executor_for(lines: int, workers: int | None) -> Executor | None:
    count = workers if workers is not None else (2 if lines > PARALLEL_FROM_LINES else 0)
    if count <= 1:
        return None
    # forkserver: workers never inherit the parent's database connections.
    return ProcessPoolExecutor(
        max_workers=count,
        mp_context=get_context("forkserver"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker as soon as process ``parent`` (the import) ends.

    A killed import (SIGKILL, or SIGTERM, whose default action runs no cleanup) cannot shut its
    pool down, and the workers would wait on their task queue for ever: they hold its write end
    themselves, and the forkserver's liveness pipe too, so the forkserver and the resource
    tracker stay as well. The workers' own parent is the forkserver, not the import, so
    PR_SET_PDEATHSIG would not do; a thread waits on a pidfd of the import instead (polling
    once a second where pidfds do not exist).
    """
    threading.Thread(
        target=_exit_when_gone, args=(parent,), name="exit-with-parent", daemon=True
    ).start()


def _exit_when_gone(parent: int) -> None:
    try:
        handle = os.pidfd_open(parent)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3 or later
        while _alive(parent):
            time.sleep(1)
        os._exit(1)
    io_select.select([handle], [], [])  # readable once the process has ended
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
