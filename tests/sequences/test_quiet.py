"""Quiet hours (issue 16 item 3): a due step waits for the clinic's sending window, read in
local time on both sides of a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sequences import run_pass
from mailer.app.subscriber_list import add
from mailer.sequences.quiet import is_open, parse_window
from mailer.workspace import Workspace
from tests.delivery_helpers import approve_file
from tests.sequences.test_cli import _recipients, _step

DENVER = "America/Denver"
WINDOW = (time(8, 0), time(19, 0))


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        ("2026-03-07T14:30:00", False),  # 07:30 MST, the day before the change
        ("2026-03-08T14:30:00", True),  # 08:30 MDT: the same UTC hour is inside after it
        ("2026-11-01T14:30:00", False),  # 07:30 MST, the day autumn's change ends DST
        ("2026-11-01T15:00:00", True),  # 08:00 MST
        ("2026-07-01T01:00:00", False),  # 19:00 MDT: the end is not inside
        ("2026-07-01T00:59:00", True),  # 18:59 MDT
    ],
)
def test_the_window_is_local_wall_clock_time(moment: str, open_: bool) -> None:
    at = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    assert is_open(at, DENVER, WINDOW) is open_


def test_a_window_over_midnight_and_any_time() -> None:
    overnight = parse_window("20:00-06:00")
    assert is_open(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), DENVER, overnight)  # 03:00 MDT
    assert not is_open(datetime(2026, 7, 1, 18, 0, tzinfo=UTC), DENVER, overnight)  # 12:00
    assert is_open(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), DENVER, parse_window(""))
    with pytest.raises(ValueError, match="08:00-19:00"):
        parse_window("8am-7pm")


def test_a_step_due_at_night_waits_for_the_morning(
    workspace: Workspace, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SEQUENCES__SEND_BETWEEN", "08:00-19:00")
    workspace = Workspace(workspace.root)
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    approve_file(workspace, sessions, workspace.campaigns_dir / "welcome-0-hello.md")
    add(sessions, "jane@example.com")
    tomorrow = datetime.now(UTC) + timedelta(days=1)  # she joined now: due, within catch-up
    night = tomorrow.replace(hour=10, minute=0)  # 03:00 or 04:00 in Denver
    report = run_pass(workspace, sessions, now=lambda: night)
    assert report.quiet and report.sent == 0
    assert _recipients(workspace, "welcome-0-hello") == []
    morning = night.replace(hour=16)  # 09:00 or 10:00 in Denver: inside the window
    assert run_pass(workspace, sessions, now=lambda: morning).sent == 1
    assert _recipients(workspace, "welcome-0-hello") == ["jane@example.com"]
