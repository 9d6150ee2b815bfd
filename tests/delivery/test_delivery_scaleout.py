"""Scale-out on PostgreSQL (issue 17): several `mailer worker` processes share a campaign, one
is killed with SIGKILL and the others finish it; idle workers wake on NOTIFY; a batch costs
the ledger one statement per step."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.ledger import Ledger
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import MAILER, SLUG, fill_list, send_environment, write_campaign
from tests.fakes.sendgrid_server import FakeSendGrid

KEY = "SG.scale-out"
BATCH = 50


def _fresh(postgres_database: str) -> tuple[Engine, sessionmaker[Session]]:
    from mailer.store.db import make_engine, session_factory
    from tests.conftest import _truncate

    engine = make_engine(postgres_database)
    _truncate(engine)
    return engine, session_factory(engine)


def _worker(workspace: Workspace, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MAILER, "--workspace", str(workspace.root), "worker", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_three_workers_one_killed_with_sigkill_the_others_finish_and_nobody_is_skipped(
    mailer: Mailer, workspace: Workspace, postgres_database: str, tmp_path: Path
) -> None:
    """The killed worker's leased rows belong to a dead process on this machine: the others
    take them over at once. Only its request in flight can go out twice, and it is counted."""
    engine, sessions = _fresh(postgres_database)
    emails = fill_list(sessions, tmp_path, 1500)
    write_campaign(workspace, sessions)
    with FakeSendGrid(api_key=KEY, schema_validation="sample") as fake:
        fake.slow_next(10_000, delay=0.03)  # requests overlap: the three really share
        env = send_environment(postgres_database, fake.url, KEY, batch_size=BATCH)
        queued = mailer("send", SLUG, "--yes", "--enqueue", env=env, process=True)
        assert queued.exit_code == 0, queued.stderr
        workers = [_worker(workspace, env, "--once", "--poll", "0.2") for _ in range(3)]
        deadline = time.monotonic() + 60
        while fake.recipient_count() < 300 and time.monotonic() < deadline:
            time.sleep(0.005)
        victim = workers[0]
        assert victim.poll() is None, victim.communicate()[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        for survivor in workers[1:]:
            _, stderr = survivor.communicate(timeout=120)
            assert survivor.returncode == 0, stderr
        received = Counter(fake.emails())
    report = json.loads(mailer("report", SLUG, "--json", env=env, process=True).stdout)
    assert set(received) == set(emails), "someone was skipped"
    twice = [email for email, n in received.items() if n > 1]
    assert max(received.values()) <= 2
    assert len(twice) <= report["possible_duplicates"] <= BATCH  # the one request in flight
    assert report["state"] == "finished" and report["sent"] == len(emails)
    engine.dispose()


def test_an_idle_worker_is_woken_by_send_enqueue_not_by_its_poll(
    mailer: Mailer, workspace: Workspace, postgres_database: str, tmp_path: Path
) -> None:
    """Before issue 17 an idle worker slept its whole poll (here 60 s) before it looked."""
    engine, sessions = _fresh(postgres_database)
    emails = fill_list(sessions, tmp_path, 40)
    write_campaign(workspace, sessions)
    with FakeSendGrid(api_key=KEY, schema_validation="sample") as fake:
        env = send_environment(postgres_database, fake.url, KEY, batch_size=BATCH)
        worker = _worker(workspace, env, "--poll", "60")
        try:
            time.sleep(3)  # started, found nothing, waiting
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            queued = mailer("send", SLUG, "--yes", "--enqueue", env=env, process=True)
            assert queued.exit_code == 0, queued.stderr
            enqueued = time.monotonic()
            while fake.recipient_count() < len(emails) and time.monotonic() - enqueued < 30:
                time.sleep(0.02)
            waited = time.monotonic() - enqueued
            assert sorted(fake.emails()) == emails
            assert waited < 20, f"the worker took {waited:.1f} s: it slept its poll"
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    assert worker.returncode == 0
    engine.dispose()


def test_a_batch_costs_the_ledger_one_statement_per_step_on_postgresql(
    postgres_database: str, tmp_path: Path
) -> None:
    """Claim, in flight, sent: one statement each, each alone (no BEGIN/COMMIT round trips).
    The claim was three statements in a transaction (expired, queued, take), and walked every
    queued row of the campaign per batch."""
    from mailer.subscribers.segments import Audience
    from tests.fakes import make_template

    engine, sessions = _fresh(postgres_database)
    fill_list(sessions, tmp_path, 30)
    ledger = Ledger(sessions)
    run, _ = ledger.start("one-statement", make_template(campaign_slug="x"), Audience())
    statements: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        if sql.strip().lower() not in {"select 1", "begin", "commit", "rollback"}:
            statements.append(sql)

    transactions: list[str] = []
    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", lambda _conn: transactions.append("commit"))
    try:
        claim = ledger.claim(run.id, 10)
        ids = [r.subscriber_id for r in claim.recipients]
        assert len(statements) == 1, statements
        assert ledger.mark_in_flight(run.id, ids) == set(ids)
        assert len(statements) == 2, statements
        ledger.mark_sent(run.id, ids, "msg-1")
        assert len(statements) == 3, statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert transactions == []  # autocommit: no COMMIT round trip of its own
    assert ledger.counts(run.id)["sent"] == 10
    engine.dispose()
