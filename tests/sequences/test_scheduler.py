"""The scheduler runs a pass of the automated series at least every minute (issue 16 item 3),
and a step never goes out at the weekly slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.subscriber_list import add
from mailer.schedule.service import SEQUENCES_EVERY
from mailer.schedule.slots import approved_queue
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import approve_file
from tests.schedule.test_scheduler_service import (
    EVERY_TWO_SECONDS,
    eventually,
    make_service,
    running,
)
from tests.scheduler_helpers import outbox_count, slot_rows
from tests.sequences.test_cli import _step


def test_the_scheduler_sends_due_steps_and_never_a_step_at_a_slot(
    workspace: Workspace, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    assert timedelta(minutes=1) >= SEQUENCES_EVERY
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    approve_file(workspace, sessions, workspace.campaigns_dir / "welcome-0-hello.md")
    add(sessions, "jane@example.com")

    with running(make_service(workspace, engine, sessions, trigger=EVERY_TWO_SECONDS)):
        eventually(lambda: outbox_count(workspace, "welcome-0-hello") == 1)
        eventually(lambda: any(row.outcome == "nothing-approved" for row in slot_rows(sessions)))

    assert outbox_count(workspace, "welcome-0-hello") == 1
    assert all(row.campaign_slug != "welcome-0-hello" for row in slot_rows(sessions))


def test_an_approved_step_is_not_in_the_weekly_queue(
    workspace: Workspace, sessions: sessionmaker[Session]
) -> None:
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    approve_file(workspace, sessions, workspace.campaigns_dir / "welcome-0-hello.md")
    assert [item.slug for item in approved_queue(workspace, sessions)] == []


def test_scheduler_status_shows_when_each_step_is_next_due(
    mailer: Mailer, workspace: Workspace
) -> None:
    _step(workspace, "welcome-1-first-visit", "Your first visit", "1h")
    _step(workspace, "welcome-2-offer", "Your free consultation", "1w")
    assert mailer("approve", "welcome-1-first-visit").exit_code == 0
    before = datetime.now(UTC)
    assert mailer("subscribers", "add", "jane@example.com").exit_code == 0
    status = mailer("scheduler", "status", "--json")
    assert status.exit_code == 0, status.stderr
    steps = {s["step"]: s for s in status.json()["sequences"]}
    first = datetime.fromisoformat(steps["welcome-1-first-visit"]["next_due"])
    assert before + timedelta(hours=1) <= first <= datetime.now(UTC) + timedelta(hours=1)
    assert steps["welcome-2-offer"]["approved"] is False
    assert "next due" in mailer("scheduler", "status").stdout
