"""How a large import sets up its process and its database connection while it runs.

``few_gc_passes`` raises the cyclic collector's first threshold for the import's duration;
``tune`` gives a SQLite connection a page cache that holds the email_key index. Both are undone
afterwards (the thresholds restored, the default cache size set again).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

IMPORT_CACHE_KIB = 32 * 1024  # SQLite page cache while importing
# Cyclic GC while importing: a first generation of this many container objects (default 700).
GC_THRESHOLD_0 = 50_000


@contextmanager
def few_gc_passes() -> Iterator[None]:
    """Fewer cyclic garbage collections while importing.

    Each chunk makes tens of thousands of short-lived container objects (rows, dicts, result
    tuples), freed by reference counting; with the default thresholds they trigger a collection
    every 700 allocations and frequent full passes over every object of the process (the
    libraries' too), about a third of a re-import's CPU time. Garbage is still collected, less
    often; the thresholds are restored afterwards.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_THRESHOLD_0), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def tune(session: Session, *, large: bool) -> None:
    """On SQLite, a page cache that holds the email_key index while importing.

    The default 2 MB cache makes inserts of random keys into a 1M-row index spill and re-read the
    same pages again and again (several times slower).
    """
    if session.get_bind().dialect.name == "sqlite":
        size = -IMPORT_CACHE_KIB if large else -2_000
        session.connection().exec_driver_sql(f"PRAGMA cache_size={size}")
