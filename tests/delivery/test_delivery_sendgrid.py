"""Sending through the sendgrid provider to the fake SendGrid server: faults, pauses, resumes."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sending import SendJob, substitutions_for
from mailer.campaigns.campaign import load_campaign
from mailer.delivery.engine import RetryPolicy, Sender
from mailer.delivery.ledger import Ledger
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.store.models import SendState
from mailer.tokens import SecretKey
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import SLUG, fill_list, send_environment, write_campaign
from tests.fakes.sendgrid_server import FakeSendGrid, Fault

KEY = "SG.test-key"


@pytest.fixture
def fake() -> object:
    with FakeSendGrid(api_key=KEY, schema_validation="sample") as server:
        yield server


def _sender(
    workspace: Workspace, sessions: sessionmaker[Session], url: str, api_key: str = KEY
) -> tuple[Ledger, int, Sender, SendJob]:
    job = SendJob(
        workspace,
        sessions,
        load_campaign(write_campaign(workspace, sessions)),
    )
    run, _ = job.start()
    provider = SendGridProvider(api_key, api_host=url, timeout=2)
    sender = Sender(
        job.ledger,
        provider,
        substitutions_for(workspace, SLUG, SecretKey.for_workspace(workspace)),
        batch_size=50,
        retry=RetryPolicy(max_attempts=8, base_seconds=0.001, rng=random.Random(1)),
    )
    return job.ledger, run.id, sender, job


@pytest.mark.both_databases
def test_thirty_percent_faults_still_deliver_everyone_exactly_once(
    workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path, fake: FakeSendGrid
) -> None:
    emails = fill_list(sessions, tmp_path, 600)
    fake.fail_randomly(
        0.3,
        [
            Fault("status", status=429, reset_in=0.0),
            Fault("status", status=500),
            Fault("status", status=503),
            Fault("drop"),
        ],
        seed=7,
    )
    ledger, run_id, sender, job = _sender(workspace, sessions, fake.url)
    sleeps: list[float] = []
    sender.sleep = sleeps.append  # no real waiting; the waits asked for are recorded
    outcome = sender.run(run_id, job.template())
    assert outcome.finished, outcome.paused_reason
    received = Counter(fake.emails())
    assert set(received) == set(emails)
    assert max(received.values()) == 1
    assert outcome.retries + outcome.rate_limited_waits > 0
    assert ledger.counts(run_id)["sent"] == 600


def test_rate_limit_waits_as_the_provider_says(
    workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path, fake: FakeSendGrid
) -> None:
    fill_list(sessions, tmp_path, 60)
    fake.rate_limit_next(1, reset_in=3.0)
    _, run_id, sender, job = _sender(workspace, sessions, fake.url)
    sleeps: list[float] = []
    sender.sleep = sleeps.append
    outcome = sender.run(run_id, job.template())
    assert outcome.finished and outcome.rate_limited_waits == 1
    assert 2.0 <= max(sleeps) <= 3.5
    assert fake.recipient_count() == 60


def test_persistent_server_errors_pause_the_campaign_with_the_reason(
    workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path, fake: FakeSendGrid
) -> None:
    fill_list(sessions, tmp_path, 120)
    fake.fail_next(100, status=502)
    ledger, run_id, sender, job = _sender(workspace, sessions, fake.url)
    sender.sleep = lambda _s: None
    outcome = sender.run(run_id, job.template())
    assert not outcome.finished
    assert "502" in outcome.paused_reason
    run = ledger.get_run(run_id)
    assert run.state == SendState.PAUSED and "502" in run.pause_reason
    assert ledger.counts(run_id)["queued"] == 120  # released, nobody marked sent
    assert fake.recipient_count() == 0


@pytest.mark.slow
def test_bad_key_pauses_at_once_then_resumes_after_the_fix(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    fake: FakeSendGrid,
    tmp_path: Path,
) -> None:
    emails = fill_list(sessions, tmp_path, 250)
    write_campaign(workspace, sessions)
    env = send_environment(database_url, fake.url, "SG.wrong-key", batch_size=100)
    first = mailer("send", SLUG, "--yes", env=env, process=True)
    assert first.exit_code == 1, first.stdout + first.stderr
    assert "paused" in first.stderr and "401" in first.stderr
    assert [status for status, _ in fake.refusals] == [401]  # not retried
    assert fake.recipient_count() == 0

    report = mailer("report", SLUG, "--json", env=env, process=True)
    assert '"state": "paused"' in report.stdout

    fixed = send_environment(database_url, fake.url, KEY, batch_size=100)
    second = mailer("send", SLUG, "--yes", env=fixed, process=True)
    assert second.exit_code == 0, second.stdout + second.stderr
    assert "Finished" in second.stdout
    assert sorted(fake.emails()) == emails

    third = mailer("send", SLUG, "--yes", env=fixed, process=True)
    assert third.exit_code == 0 and "Nothing is sent again" in third.stdout
    assert fake.recipient_count() == 250


@pytest.mark.slow
def test_unapproved_campaign_is_not_sent(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    fake: FakeSendGrid,
    tmp_path: Path,
) -> None:
    fill_list(sessions, tmp_path, 3)
    path = write_campaign(workspace, sessions)
    approved = path.read_text()
    assert 'status: "approved"' in approved  # saved front matter values are quoted
    path.write_text(approved.replace('status: "approved"', 'status: "draft"'))
    env = send_environment(database_url, fake.url, KEY)
    result = mailer("send", SLUG, "--yes", env=env, process=True)
    assert result.exit_code == 1
    assert "mailer approve" in result.stderr
    assert fake.requests == 0


@pytest.mark.slow
def test_test_to_sends_a_marked_copy_and_records_nothing(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    fake: FakeSendGrid,
    tmp_path: Path,
) -> None:
    fill_list(sessions, tmp_path, 3)
    write_campaign(workspace, sessions)
    fake.keep_payloads = True
    env = send_environment(database_url, fake.url, KEY)
    result = mailer("send", SLUG, "--test-to", "staff@summitspine.example", env=env, process=True)
    assert result.exit_code == 0, result.stderr
    assert fake.emails() == ["staff@summitspine.example"]
    payload = fake.payloads[0]
    subjects = [p.get("subject", payload.get("subject")) for p in payload["personalizations"]]
    assert all(str(s).startswith("[TEST]") for s in subjects)
    report = mailer("report", SLUG, "--json", env=env, process=True)
    assert report.exit_code == 2 and "not been sent" in report.stderr
