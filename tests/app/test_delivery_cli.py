"""`mailer send --dry-run`, the rate limit, and sending through the default outbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.engine import RateLimiter
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import SLUG, fill_list, write_campaign


def _env(database_url: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE__URL"] = database_url
    return env


@pytest.mark.slow
def test_dry_run_shows_audience_and_sends_nothing(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    fill_list(sessions, tmp_path, 12)
    write_campaign(workspace, sessions)
    result = mailer("send", SLUG, "--dry-run", env=_env(database_url), process=True)
    assert result.exit_code == 0, result.stderr
    assert "12 active subscribers" in result.stdout and "nothing was sent" in result.stdout
    assert not (workspace.outbox_dir / SLUG).exists()
    report = mailer("report", SLUG, env=_env(database_url), process=True)
    assert report.exit_code == 2  # never started


@pytest.mark.slow
def test_outbox_send_writes_one_message_per_subscriber_and_reports(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    fill_list(sessions, tmp_path, 12)
    write_campaign(workspace, sessions)
    result = mailer("send", SLUG, "--yes", env=_env(database_url), process=True)
    assert result.exit_code == 0, result.stderr
    assert len(list((workspace.outbox_dir / SLUG).glob("*.eml"))) == 12
    report = mailer("report", SLUG, "--json", env=_env(database_url), process=True)
    import json

    figures = json.loads(report.stdout)
    for key in (
        "recipients",
        "sent",
        "failed",
        "delivered",
        "bounced",
        "opened_unique",
        "clicked_unique",
        "cta_clicks",
        "unsubscribed",
        "complaints",
    ):
        assert key in figures
    assert figures["recipients"] == figures["sent"] == 12


def test_rate_limiter_spaces_batches_to_the_configured_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(100, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait_for(50)  # a cap of 100 in any second: two of these per second
    assert slept == [1.0, 1.0]
    assert now[0] == 2.0
    unlimited = RateLimiter(0, clock=lambda: now[0], sleep=sleep)
    unlimited.wait_for(10_000)
    assert len(slept) == 2
