"""Exactly once through crashes: a real `mailer send` killed with SIGKILL at random moments,
through SendGrid (a request per batch) and through SMTP (a message at a time)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import (
    SLUG,
    approve_file,
    check_once_through_a_kill,
    fill_list,
    kill_midway,
    send_environment,
    smtp_environment,
    write_campaign,
)
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.smtp_server import FakeSmtp

KEY = "SG.crash-key"
BATCH = 50
PEOPLE = 600
TRIALS = 20


@pytest.mark.slow
def test_twenty_sigkills_skip_nobody_and_duplicate_only_the_request_in_flight(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    from mailer.store.db import make_engine, session_factory, upgrade_schema

    url = f"sqlite:///{tmp_path / 'crash.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    sessions: sessionmaker[Session] = session_factory(engine)
    emails = fill_list(sessions, tmp_path, PEOPLE)
    template = write_campaign(workspace, sessions).read_text(encoding="utf-8")
    rng = random.Random(20261122)
    killed_mid_send = 0
    with FakeSendGrid(api_key=KEY, schema_validation="sample") as fake:
        env = send_environment(url, fake.url, KEY, batch_size=BATCH)
        for trial in range(TRIALS):
            slug = f"crash-trial-{trial:02d}"
            path = workspace.campaigns_dir / f"{slug}.md"
            path.write_text(template, encoding="utf-8")
            approve_file(workspace, sessions, path)
            fake.reset()
            fake.slow_next(10_000, delay=0.01)  # every request takes a little while
            # A random point: after a random number of recipients were accepted, plus a random
            # few milliseconds, so kills land before, during and after requests.
            threshold = rng.randrange(0, PEOPLE - BATCH)
            args = ["--workspace", str(workspace.root), "send", slug, "--yes"]
            at_kill = kill_midway(
                args, env, done=fake.recipient_count, threshold=threshold, jitter=0.03, rng=rng
            )
            killed_mid_send += at_kill is not None and 0 < at_kill < PEOPLE

            resumed = mailer("send", slug, "--yes", env=env, process=True)
            assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
            report = json.loads(mailer("report", slug, "--json", env=env, process=True).stdout)

            received = Counter(fake.emails())
            twice = check_once_through_a_kill(received, emails, BATCH, report, f"trial {trial}")
            assert report["sent"] == PEOPLE and report["pending"] == 0
            if twice:
                assert "may have received this issue twice" in resumed.stdout
    engine.dispose()
    assert killed_mid_send >= TRIALS // 2, (
        "too few kills landed in the middle of a send to mean much"
    )


SMTP_PEOPLE = 300
SMTP_KILLS = 8


@pytest.mark.slow
@pytest.mark.both_databases
def test_sigkills_during_an_smtp_send_duplicate_at_most_one_message_each(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 21: `mailer send` through SMTP killed with SIGKILL eight times at random
    moments, resumed each time: everyone gets the issue, and each kill duplicates at most the
    one message in flight (it used to duplicate every message of the batch accepted so far),
    and the send counts them."""
    emails = fill_list(sessions, tmp_path, SMTP_PEOPLE)
    write_campaign(workspace, sessions, smtp_environment(database_url, 25))  # base_url renders
    rng = random.Random(20261123)
    kills = 0
    with FakeSmtp(delay=0.003) as server:
        env = smtp_environment(database_url, server.port, batch_size=BATCH)
        for _ in range(SMTP_KILLS):
            before = len(server.messages)
            threshold = before + rng.randrange(1, 30)
            args = ["--workspace", str(workspace.root), "send", SLUG, "--yes"]
            at_kill = kill_midway(
                args,
                env,
                done=lambda: len(server.messages),
                threshold=threshold,
                jitter=0.01,
                rng=rng,
                poll=0.001,
            )
            kills += at_kill is not None
        resumed = mailer("send", SLUG, "--yes", env=env, process=True)
        assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
        report = json.loads(mailer("report", SLUG, "--json", env=env, process=True).stdout)
        received = Counter(message.rcpt_tos[0] for message in server.messages)

    assert kills >= SMTP_KILLS // 2, "too few kills landed in the middle of the send"
    assert set(received) == set(emails), "someone was skipped"
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= kills, f"{duplicates} duplicates from {kills} kills"
    assert duplicates <= report["possible_duplicates"] <= kills
    assert report["sent"] == SMTP_PEOPLE and report["pending"] == 0
