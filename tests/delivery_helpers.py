"""Shared set-up for delivery tests: a list of N people, a campaign, the send environment, and
the crash tests' kill: a real `mailer` process killed with SIGKILL at a random moment."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailer.subscribers.csv_import import import_csv
from mailer.workspace import Workspace
from tests.cli_runner import MAILER  # the installed script, for Popen tests

CAMPAIGN = """---
subject: Sleep position and neck pain
preheader: Three small changes for a better night.
status: approved
articles:
- title: Sleep position and neck pain
  url: https://www.summitspine.example/blog/sleep
---
How you sleep shapes how your neck feels in the morning.

[[cta]]

[[button "Read the full article" https://www.summitspine.example/blog/sleep]]

[[cta]]
"""
SLUG = "sleep-and-neck-pain"


def fill_list(sessions: sessionmaker[Session], folder: Path, count: int) -> list[str]:
    """Import ``count`` active subscribers through the real CSV import; their addresses."""
    emails = [f"reader{n:06d}@example.com" for n in range(count)]
    csv_path = folder / "list.csv"
    csv_path.write_text(
        "Email,First Name\n" + "".join(f"{e},Reader{n}\n" for n, e in enumerate(emails)),
        encoding="utf-8",
    )
    report = import_csv(sessions, csv_path)
    assert report.imported == count
    return emails


def write_campaign(
    workspace: Workspace, sessions: sessionmaker[Session], env: dict[str, str] | None = None
) -> Path:
    """campaigns/<SLUG>.md, approved through the real approval (see approve_file)."""
    path = workspace.campaigns_dir / f"{SLUG}.md"
    path.write_text(CAMPAIGN, encoding="utf-8")
    approve_file(workspace, sessions, path, env)
    return path


def approve_file(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    path: Path,
    env: dict[str, str] | None = None,
    now: datetime | None = None,
) -> None:
    """Approve a campaign file as `mailer approve` does (mailer.campaigns.approval.approve).

    ``env``: the MAILER_* variables the send will run with, when they change what renders
    (web.base_url...): the approval covers the message as that send compiles it.
    """
    from mailer.campaigns.approval import approve
    from mailer.campaigns.campaign import load_campaign

    if env is not None:
        workspace = workspace_with(workspace.root, env)
    approve(workspace, sessions, load_campaign(path), approved_by="test:helpers", now=now)


def workspace_with(root: Path, env: dict[str, str]) -> Workspace:
    """A Workspace whose settings are read with exactly the MAILER_* variables of ``env``."""
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("MAILER_")]:
            del os.environ[name]
        os.environ.update({k: v for k, v in env.items() if k.startswith("MAILER_")})
        workspace = Workspace(root)
        _ = workspace.settings  # read now, kept by the Workspace
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return workspace


def send_environment(
    database_url: str, sendgrid_url: str, api_key: str, batch_size: int = 100
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        {
            "MAILER_DATABASE__URL": database_url,
            "MAILER_DELIVERY__PROVIDER": "sendgrid",
            "MAILER_DELIVERY__BATCH_SIZE": str(batch_size),
            "MAILER_SENDGRID__API_HOST": sendgrid_url,
            "SENDGRID_API_KEY": api_key,
            "MAILER_SECRET_KEY": "crash-test-secret-key-0123456789",
        }
    )
    return env


def smtp_environment(database_url: str, port: int, batch_size: int = 100) -> dict[str, str]:
    """`mailer send` through the smtp provider to a server on 127.0.0.1:``port`` (no TLS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        {
            "MAILER_DATABASE__URL": database_url,
            "MAILER_DELIVERY__PROVIDER": "smtp",
            "MAILER_DELIVERY__BATCH_SIZE": str(batch_size),
            "MAILER_SMTP__HOST": "127.0.0.1",
            "MAILER_SMTP__PORT": str(port),
            "MAILER_SMTP__SECURITY": "none",
            "MAILER_SECRET_KEY": "smtp-test-secret-0123456789abcdef",
            "MAILER_WEB__BASE_URL": "https://news.summitspine.example",
        }
    )
    return env


def mailer_env(**extra: str) -> dict[str, str]:
    """This environment without MAILER_* and SendGrid variables, a test secret key, ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SENDGRID_"))}
    return {**env, "MAILER_SECRET_KEY": "test-secret-key-0123456789abcdef", **extra}


def kill_midway(
    args: list[str],
    env: dict[str, str],
    *,
    done: Callable[[], int],
    threshold: int,
    jitter: float,
    rng: random.Random,
    poll: float = 0.002,
) -> int | None:
    """Start `mailer ARGS`, wait until ``done()`` (what the fake server received so far) reaches
    ``threshold``, the process ends or 60 s pass, then a random 0-``jitter`` s more (so kills
    land before, during and after requests), and SIGKILL it if it still runs. ``done()`` just
    before the kill, or None when the process had ended by itself."""
    process = subprocess.Popen(
        [MAILER, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while process.poll() is None and done() < threshold and time.monotonic() < deadline:
        time.sleep(poll)
    time.sleep(rng.uniform(0, jitter))
    at_kill = None
    if process.poll() is None:
        at_kill = done()
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return at_kill


def check_once_through_a_kill(
    received: Counter[str], emails: list[str], batch: int, report: dict[str, int], trial: str
) -> list[str]:
    """After a killed send and its resume: nobody skipped, nobody sent to three times, the
    duplicates within one request (``batch``) and counted as possible ones; the duplicated."""
    assert set(received) == set(emails), f"{trial}: someone was skipped"
    assert max(received.values()) <= 2, f"{trial}: someone got it three times"
    twice = [email for email, n in received.items() if n > 1]
    assert len(twice) <= batch, f"{trial}: duplicates beyond one request"
    assert len(twice) <= report["possible_duplicates"] <= batch, trial
    return twice
