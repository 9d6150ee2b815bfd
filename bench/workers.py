"""PostgreSQL workers against the SQLite single process, in one run (issue 17).

    .venv/bin/python -m bench workers
    BENCH_RECIPIENTS=20000 BENCH_WORKERS=1,2 .venv/bin/python -m bench workers

1. SQLite, one process: fix the audience and send it (bench.delivery.send_everyone).
2. PostgreSQL, `send --enqueue` + 1, 2 and 4 workers: the workers are started first and wait
   for work as `mailer worker` does (LISTEN, woken by the NOTIFY of the enqueue); the clock
   runs from the enqueue (the audience fixed) to the last worker done.
Both through the sendgrid provider to the fake SendGrid on loopback (its own process), batches
of 1,000, the same recipients. Each figure is printed with the load average when it ended:
the machine is shared, so compare figures of one run, or alternate runs (before/after).
On a tree without delivery/ledger/wakeup.py (before issue 17) the workers poll every 50 ms.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.delivery import POSTGRES, populate, send_everyone, template, values
from bench.providers import API_KEY, server_process
from mailer.delivery.engine import Sender
from mailer.delivery.ledger import Ledger, template_from_json
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.subscribers.segments import Audience


def _load() -> float:
    return os.getloadavg()[0]


def sqlite_single(count: int, url: str) -> float:
    """Recipients/s of one process on SQLite (audience fixed, then sent)."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade_schema(engine)
        sessions = session_factory(engine)
        populate(sessions, count)
        seconds = send_everyone(url, sessions)
        engine.dispose()
    return count / seconds


def _wait_for_run(sessions: Any, ledger: Ledger) -> int:
    """Wait as an idle `mailer worker` does; the id of the run to send."""
    try:
        from mailer.delivery.ledger.wakeup import Wakeups
    except ImportError:  # before issue 17: poll, every 50 ms (kinder than the 5 s default)
        while not ledger.active_runs():
            time.sleep(0.05)
        return ledger.active_runs()[0].id
    with Wakeups(sessions) as wakeups:
        while not ledger.active_runs():
            wakeups.wait(5.0)
    return ledger.active_runs()[0].id


def _worker(url: str, database_url: str, ready: Any) -> None:
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    ledger = Ledger(sessions)
    ready.release()
    run_id = _wait_for_run(sessions, ledger)
    run = ledger.get_run(run_id)
    provider = SendGridProvider(API_KEY, api_host=url)
    Sender(ledger, provider, values, batch_size=1000).run(run_id, template_from_json(run.template))
    engine.dispose()


def postgres_workers(count: int, workers: int, url: str) -> float:
    """Recipients/s of ``workers`` processes on a new PostgreSQL database, from the enqueue."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"mailer_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(database_url)
        upgrade_schema(engine)
        sessions = session_factory(engine)
        populate(sessions, count)
        engine.dispose()
        context = multiprocessing.get_context("fork")
        ready = context.Semaphore(0)
        processes = [
            context.Process(target=_worker, args=(url, database_url, ready)) for _ in range(workers)
        ]
        for process in processes:
            process.start()
        for _ in processes:
            ready.acquire(timeout=60)
        time.sleep(0.5)  # each is waiting for work
        started = time.perf_counter()
        ledger = Ledger(sessions)
        run, _ = ledger.start("bench", template(), Audience())  # `mailer send --enqueue`
        for process in processes:
            process.join()
        seconds = time.perf_counter() - started
        assert ledger.finish_if_done(run.id)
        assert ledger.counts(run.id)["sent"] == count
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return count / seconds


def one_run(count: int, worker_counts: tuple[int, ...]) -> list[tuple[str, float, float]]:
    """(what, recipients/s, load average at the end) for each figure, one fake server."""
    figures = []
    with server_process("sendgrid", schema_validation="sample") as server:
        url = str(server.address)
        figures.append(("SQLite, one process", sqlite_single(count, url), _load()))
        for workers in worker_counts:
            rate = postgres_workers(count, workers, url)
            figures.append((f"PostgreSQL, {workers} worker(s)", rate, _load()))
    return figures


def main() -> None:
    count = int(os.environ.get("BENCH_RECIPIENTS", 100_000))
    worker_counts = tuple(int(n) for n in os.environ.get("BENCH_WORKERS", "1,2,4").split(","))
    figures = one_run(count, worker_counts)
    sqlite_rate = figures[0][1]
    for what, rate, load in figures:
        print(
            f"{what}, {count:,} recipients: {rate:,.0f}/s "
            f"({rate / sqlite_rate:.2f}x SQLite; load {load:.2f})"
        )
