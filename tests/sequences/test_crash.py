"""Exactly once through crashes, as for campaigns: a real `mailer sequences run` killed with
SIGKILL in the middle of a step's send, then run again: nobody skipped, duplicates only within
the request in flight (counted as possible duplicates), nothing sent a third time."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sequences import enrol_existing
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import (
    approve_file,
    check_once_through_a_kill,
    fill_list,
    kill_midway,
    send_environment,
)
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.sequences.test_cli import STEP

KEY = "SG.crash-key"
BATCH = 25
PEOPLE = 300
TRIALS = 4


@pytest.mark.slow
def test_sigkill_in_a_pass_skips_nobody_and_duplicates_only_the_request_in_flight(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    from mailer.store.db import make_engine, session_factory, upgrade_schema

    url = f"sqlite:///{tmp_path / 'crash.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    sessions: sessionmaker[Session] = session_factory(engine)
    emails = fill_list(sessions, tmp_path, PEOPLE)
    rng = random.Random(16)
    killed_mid_send = 0
    with FakeSendGrid(api_key=KEY, schema_validation="sample") as fake:
        env = send_environment(url, fake.url, KEY, batch_size=BATCH)
        env["MAILER_SEQUENCES__SEND_BETWEEN"] = ""
        # Each trial's series goes to the same people minutes apart: min_gap would hold them.
        env["MAILER_SEQUENCES__MIN_GAP"] = "0s"
        for trial in range(TRIALS):
            series = f"crash-{trial}"
            path = workspace.campaigns_dir / f"{series}-step.md"
            text = STEP.format(subject="Welcome", after="0s")
            path.write_text(text.replace("sequence: welcome", f"sequence: {series}"))
            approve_file(workspace, sessions, path, env)
            assert enrol_existing(sessions, series) == PEOPLE
            fake.reset()
            fake.slow_next(10_000, delay=0.01)
            threshold = rng.randrange(BATCH, PEOPLE - BATCH)
            args = ["--workspace", str(workspace.root), "sequences", "run"]
            at_kill = kill_midway(
                args, env, done=fake.recipient_count, threshold=threshold, jitter=0.02, rng=rng
            )
            killed_mid_send += at_kill is not None and 0 < at_kill < PEOPLE

            again = mailer("sequences", "run", env=env, process=True)
            assert again.exit_code == 0, again.stdout + again.stderr
            received = Counter(fake.emails())
            report = mailer("report", f"{series}-step", "--json", env=env, process=True).json()
            check_once_through_a_kill(received, emails, BATCH, report, f"trial {trial}")
            assert report["sent"] == PEOPLE
    engine.dispose()
    assert killed_mid_send >= TRIALS // 2, "too few kills landed in the middle of a send"
