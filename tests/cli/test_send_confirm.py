"""`mailer send` asks on a terminal and refuses without one unless `--yes`: real processes."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.workspace import Workspace
from tests.app.test_delivery_cli import _env
from tests.cli_runner import Mailer
from tests.delivery_helpers import MAILER, SLUG, fill_list, write_campaign

pytestmark = pytest.mark.slow  # real `mailer send` processes on a pseudo-terminal

NO_TERMINAL = "no terminal to confirm on: add --yes to send from a script"


def sent_files(workspace: Workspace) -> int:
    return len(list((workspace.outbox_dir / SLUG).glob("*.eml")))


def never_started(mailer: Mailer, env: dict[str, str]) -> bool:
    """No delivery run exists: `mailer report` says the campaign has not been sent."""
    return mailer("report", SLUG, env=env, process=True).exit_code == 2


def on_terminal(
    workspace: Workspace, env: dict[str, str], answer: bytes, *args: str
) -> tuple[int, str]:
    """Run `mailer` on a pseudo-terminal, answer its question, return (status, what it showed)."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [MAILER, "--workspace", str(workspace.root), *args],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    shown = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if not answered and b"[y/N]" in shown:
                os.write(controller, answer + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        status = process.wait(timeout=60)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return status, shown.decode("utf-8", "replace")


def _ready(workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    fill_list(sessions, tmp_path, 5)
    write_campaign(workspace, sessions)


def test_piped_no_is_refused_without_sending(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 3: `echo n | mailer send X` sent to everyone; without a terminal and
    without --yes it must refuse with exit 2, say to add --yes, and send nothing."""
    _ready(workspace, sessions, tmp_path)
    env = _env(database_url)
    piped = mailer("send", SLUG, env=env, input="n\n", process=True)  # as `echo n | mailer ...`
    assert piped.exit_code == 2, piped.stdout + piped.stderr
    assert NO_TERMINAL in piped.stderr and f"mailer send {SLUG} --yes" in piped.stderr
    assert "Traceback" not in piped.stderr
    assert sent_files(workspace) == 0 and never_started(mailer, env)

    from_nothing = mailer("send", SLUG, env=env, process=True)  # stdin is /dev/null
    assert from_nothing.exit_code == 2, from_nothing.stdout + from_nothing.stderr
    assert NO_TERMINAL in from_nothing.stderr
    assert sent_files(workspace) == 0 and never_started(mailer, env)

    scripted = mailer("send", SLUG, "--yes", env=env, process=True)
    assert scripted.exit_code == 0, scripted.stdout + scripted.stderr
    assert sent_files(workspace) == 5


def test_on_a_terminal_it_asks_and_no_sends_nothing(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 3: on a terminal the question stays: "n" sends nothing, "y" sends."""
    _ready(workspace, sessions, tmp_path)
    env = _env(database_url)
    status, shown = on_terminal(workspace, env, b"n", "send", SLUG)
    assert "Send 'sleep-and-neck-pain' to 5 subscribers via outbox?" in shown, shown
    assert status == 1, shown
    assert sent_files(workspace) == 0 and never_started(mailer, env)

    status, shown = on_terminal(workspace, env, b"y", "send", SLUG)
    assert status == 0, shown
    assert sent_files(workspace) == 5


def test_dry_run_and_test_copies_need_no_confirmation(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 3: --dry-run and --test-to send nobody on the list, so they need no
    terminal and no --yes."""
    _ready(workspace, sessions, tmp_path)
    env = _env(database_url)
    dry = mailer("send", SLUG, "--dry-run", env=env, process=True)
    assert dry.exit_code == 0, dry.stderr
    test = mailer("send", SLUG, "--test-to", "staff@summitspine.example", env=env, process=True)
    assert test.exit_code == 0, test.stderr
    assert never_started(mailer, env)
