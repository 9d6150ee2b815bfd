"""Ctrl-C during `mailer send` and `mailer worker`: real processes, a slow real SMTP server."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import Delivery, DeliveryState
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import (
    MAILER,
    SLUG,
    fill_list,
    smtp_environment,
    write_campaign,
)
from tests.fakes.smtp_server import FakeSmtp

pytestmark = pytest.mark.slow  # real processes, signals and a slow SMTP server

PEOPLE = 60


def states(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
    return {state: int(n) for state, n in rows}


def start(workspace: Workspace, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MAILER, "--workspace", str(workspace.root), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_messages(server: FakeSmtp, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while len(server.messages) < count:
        assert process.poll() is None, "the send ended before it could be interrupted"
        assert time.monotonic() < deadline, "the send did not start"
        time.sleep(0.005)


def test_ctrl_c_finishes_the_message_in_flight_records_it_and_says_how_to_resume(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 4: Ctrl-C (SIGINT) is handled like SIGTERM: what is in flight finishes
    and is recorded, nothing is left in flight, the command says how to resume and exits 130;
    the resume mails everyone else, each person exactly once."""
    emails = fill_list(sessions, tmp_path, PEOPLE)
    write_campaign(workspace, sessions, smtp_environment(database_url, 25))  # base_url renders
    with FakeSmtp(delay=0.02) as server:
        env = smtp_environment(database_url, server.port, batch_size=10)
        process = start(workspace, env, "send", SLUG, "--yes")
        wait_for_messages(server, 3, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stdout + stderr
        assert f"resume with `mailer send {SLUG}`" in stdout, stdout + stderr
        assert "Traceback" not in stderr
        left = states(sessions)
        received = len(server.messages)
        assert left.get(DeliveryState.SENDING, 0) == left.get(DeliveryState.CLAIMED, 0) == 0
        assert left.get(DeliveryState.SENT, 0) == received < PEOPLE, (left, received)

        resumed = mailer("send", SLUG, "--yes", env=env, process=True)
        assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
        assert "may have received this issue twice" not in resumed.stdout
        got = Counter(message.rcpt_tos[0] for message in server.messages)
    assert set(got) == set(emails) and max(got.values()) == 1
    assert states(sessions) == {DeliveryState.SENT: PEOPLE}


def test_a_second_ctrl_c_aborts_at_once_and_the_resume_counts_what_was_in_flight(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 4: a second Ctrl-C aborts at once (exit 130, like a crash): the resume
    still mails everyone, and anyone who may have got it twice is counted."""
    emails = fill_list(sessions, tmp_path, PEOPLE)
    write_campaign(workspace, sessions, smtp_environment(database_url, 25))  # base_url renders
    with FakeSmtp(delay=0.05) as server:
        env = smtp_environment(database_url, server.port, batch_size=10)
        process = start(workspace, env, "send", SLUG, "--yes")
        wait_for_messages(server, 3, process)
        process.send_signal(signal.SIGINT)
        time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 130, stdout + stderr
        assert "aborted at once" in stderr
        resumed = mailer("send", SLUG, "--yes", env=env, process=True)
        assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
        report = mailer("report", SLUG, "--json", env=env, process=True)
        got = Counter(message.rcpt_tos[0] for message in server.messages)
    figures = json.loads(report.stdout)
    assert set(got) == set(emails) and figures["sent"] == PEOPLE
    twice = sum(1 for n in got.values() if n > 1)
    assert max(got.values()) <= 2
    assert twice <= figures["possible_duplicates"] <= 10  # at most the one batch in flight


def test_ctrl_c_stops_a_worker_after_what_is_in_flight(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 4: `mailer worker` handles Ctrl-C the same way: it stops after what is
    in flight, leaves nothing in flight, and exits 130."""
    fill_list(sessions, tmp_path, PEOPLE)
    write_campaign(workspace, sessions, smtp_environment(database_url, 25))  # base_url renders
    with FakeSmtp(delay=0.02) as server:
        env = smtp_environment(database_url, server.port, batch_size=10)
        queued = mailer("send", SLUG, "--yes", "--enqueue", env=env, process=True)
        assert queued.exit_code == 0, queued.stdout + queued.stderr
        process = start(workspace, env, "worker", "--poll", "0.2")
        wait_for_messages(server, 3, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stdout + stderr
        assert "Traceback" not in stderr
        left = states(sessions)
        assert left.get(DeliveryState.SENDING, 0) == left.get(DeliveryState.CLAIMED, 0) == 0
        assert left.get(DeliveryState.SENT, 0) == len(server.messages) < PEOPLE


def test_ctrl_c_stops_the_scheduler_cleanly_with_130(workspace: Workspace, tmp_path: Path) -> None:
    """Issue 10 item 4: `mailer scheduler run` already stopped on Ctrl-C; it now also exits 130
    as `mailer send` and `mailer worker` do, after a clean stop (lease released)."""
    env = {k: v for k, v in smtp_environment("", 25).items() if k != "MAILER_DATABASE__URL"}
    env["MAILER_DELIVERY__PROVIDER"] = "outbox"
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [MAILER, "--workspace", str(workspace.root), "scheduler", "run"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "active: next slot" not in log.read_text(encoding="utf-8", errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert "scheduler stopped" in log.read_text()


def test_the_first_ctrl_c_imports_nothing_so_a_second_one_always_aborts() -> None:
    """The handler of the first Ctrl-C printed through rich, whose first print imports its emoji
    table; a second Ctrl-C inside that import found the module half made: an ImportError
    traceback and exit 1, not 130. In a fresh process the first signal's handler now imports
    no module, so the second one has nothing half made to meet."""
    script = (
        "import signal, sys\n"
        "from mailer.cli.send import _StopFlag\n"
        "flag = _StopFlag()\n"
        "before = set(sys.modules)\n"
        "flag._stop(signal.SIGINT, None)\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run(
        [str(Path(MAILER).with_name("python")), "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    assert "Ctrl-C again aborts at once" in done.stderr
