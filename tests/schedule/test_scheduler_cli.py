"""`mailer scheduler run|status` as staff and systemd run them: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from mailer.store.db import open_database
from mailer.workspace import Workspace
from tests.cli_runner import Mailer, Result
from tests.delivery_helpers import MAILER
from tests.scheduler_helpers import outbox_count, staff_notices, write_campaign

Run = Callable[..., Result]

pytestmark = pytest.mark.slow  # real scheduler processes, killed and waited for


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    clean["MAILER_SECRET_KEY"] = "test-secret-key-0123456789abcdef"
    return clean


@pytest.fixture
def mailer(mailer: Mailer, workspace: Workspace) -> Run:
    """`mailer` as staff and systemd run it: a process in the workspace's folder."""
    return partial(mailer, workspace=None, cwd=workspace.root, env=env(), process=True)


@contextmanager
def scheduler_process(workspace: Workspace, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [MAILER, "scheduler", "run"],
            cwd=workspace.root,
            env=env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def wait_for(log: Path, text: str, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {log.name} within {timeout} s:\n{log.read_text()}")


@pytest.fixture
def ready(mailer: Run, workspace: Workspace) -> Workspace:
    result = mailer("subscribers", "import", "subscribers/sample.csv")
    assert result.exit_code == 0, result.stderr
    return workspace


def test_status_json_shows_the_next_slot_in_local_time_and_utc(
    mailer: Run, ready: Workspace
) -> None:
    write_campaign(ready, open_database(ready.database_url)[1], "waiting-issue")
    result = mailer("scheduler", "status", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # one JSON document, nothing else on stdout
    local, utc = document["next_slot"]["local"], document["next_slot"]["utc"]
    assert local.endswith(("T09:00:00-07:00", "T09:00:00-06:00"))
    assert utc.endswith(("T16:00:00+00:00", "T15:00:00+00:00"))
    assert document["active_scheduler"] is None
    assert [(q["slug"], q["next"]) for q in document["queue"]] == [("waiting-issue", True)]


def test_run_now_sends_the_approved_issue_then_finds_nothing(mailer: Run, ready: Workspace) -> None:
    write_campaign(ready, open_database(ready.database_url)[1], "this-week")
    first = mailer("scheduler", "run", "--now")
    assert first.exit_code == 0, first.stderr
    assert "sent this-week" in first.stdout
    audience = outbox_count(ready, "this-week")
    assert audience > 0

    second = mailer("scheduler", "run", "--now")
    assert second.exit_code == 0, second.stderr
    assert "no approved campaign is due" in second.stdout
    assert outbox_count(ready, "this-week") == audience
    assert any("no issue was approved" in n for n in staff_notices(ready))


def test_a_standby_takes_over_when_the_active_scheduler_is_killed(
    mailer: Run, ready: Workspace, tmp_path: Path
) -> None:
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    with (
        scheduler_process(ready, logs[0]) as one,
        scheduler_process(ready, logs[1]) as two,
    ):
        deadline = time.monotonic() + 30
        while not any("active: next slot" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, "no scheduler became active"
            time.sleep(0.05)
        first_is_one = "active: next slot" in logs[0].read_text()
        (first, _first_log), (second, second_log) = (
            ((one, logs[0]), (two, logs[1])) if first_is_one else ((two, logs[1]), (one, logs[0]))
        )
        wait_for(second_log, "standby: the active scheduler is")
        assert "active: next slot" not in second_log.read_text()
        status = json.loads(mailer("scheduler", "status", "--json").stdout)
        assert status["active_scheduler"]["pid"] == first.pid

        first.kill()  # SIGKILL: no goodbye, the lease is still in the table
        first.wait(10)
        took = wait_for(second_log, "active: next slot", timeout=60)
        assert took < 60  # the issue's bound; a dead process on this host is seen at once
        status = json.loads(mailer("scheduler", "status", "--json").stdout)
        assert status["active_scheduler"]["pid"] == second.pid

        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert "scheduler stopped" in second_log.read_text()
    status = json.loads(mailer("scheduler", "status", "--json").stdout)
    assert status["active_scheduler"]["live"] is False


def test_a_bad_cron_stops_the_scheduler_with_a_clear_error(mailer: Run, ready: Workspace) -> None:
    config = ready.root / "mailer.toml"
    config.write_text(config.read_text().replace('cron = "0 9 * * 2"', 'cron = "0 9 * * 9"'))
    result = mailer("scheduler", "run")
    assert result.exit_code == 2
    assert "schedule.cron" in result.stderr and "Traceback" not in result.stderr
