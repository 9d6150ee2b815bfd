"""Several `mailer worker` processes share one campaign on PostgreSQL (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import (
    MAILER,
    SLUG,
    fill_list,
    send_environment,
    write_campaign,
)
from tests.fakes.sendgrid_server import FakeSendGrid

KEY = "SG.workers"


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_on_postgresql_mail_each_recipient_once(
    mailer: Mailer,
    workspace: Workspace,
    postgres_database: str,
    tmp_path: Path,
    workers: int,
) -> None:
    from mailer.store.db import make_engine, session_factory
    from tests.conftest import _truncate

    engine = make_engine(postgres_database)
    _truncate(engine)
    sessions: sessionmaker[Session] = session_factory(engine)
    emails = fill_list(sessions, tmp_path, 2000)
    write_campaign(workspace, sessions)
    with FakeSendGrid(api_key=KEY, schema_validation="sample") as fake:
        fake.slow_next(10_000, delay=0.02)  # requests overlap, so the workers really share
        env = send_environment(postgres_database, fake.url, KEY, batch_size=50)
        queued = mailer("send", SLUG, "--yes", "--enqueue", env=env, process=True)
        assert queued.exit_code == 0, queued.stderr
        processes = [
            subprocess.Popen(
                [MAILER, "--workspace", str(workspace.root), "worker", "--once", "--poll", "0.2"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
        received = Counter(fake.emails())
    assert set(received) == set(emails)
    assert max(received.values()) == 1
    report = mailer("report", SLUG, "--json", env=env, process=True)
    assert '"state": "finished"' in report.stdout
    engine.dispose()
