"""Due times and quiet hours over daylight-saving changes (issue 16's tests), with an injected
clock: passes every 30 minutes across the change in the clinic's zone (America/Denver).

``after`` counts elapsed time from joining (UTC arithmetic), so a step "1d" after a join lands
an hour later or earlier on the wall clock across a change, never twice and never early; the
sending window is read in local time on each side of it (mailer.sequences.quiet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sequences import run_pass
from mailer.sequences.enrolment import enrol
from mailer.store.db import transaction
from mailer.subscribers.service import add_subscriber
from mailer.workspace import Workspace
from tests.delivery_helpers import approve_file
from tests.sequences.test_cli import _recipients, _step

EVERY = timedelta(minutes=30)


def _first_sent(
    workspace: Workspace, sessions: sessionmaker[Session], start: datetime, hours: int
) -> list[datetime]:
    """Passes every EVERY from ``start`` for ``hours``: the moments a pass sent something."""
    sent: list[datetime] = []
    moment = start
    while moment < start + timedelta(hours=hours):
        if run_pass(workspace, sessions, now=lambda at=moment: at).sent:
            sent.append(moment)
        moment += EVERY
    return sent


@pytest.mark.parametrize(
    ("joined", "due", "sent_at"),
    [
        # Spring: joined Sat 7 March 18:30 MST; due 24 h later = Sun 19:30 MDT, after the
        # window (the clocks went forward): it waits for Monday 08:00 MDT (14:00 UTC).
        ("2026-03-08T01:30:00", "2026-03-09T01:30:00", "2026-03-09T14:00:00"),
        # Autumn: joined Sat 31 October 09:00 MDT; due 24 h later = Sun 08:00 MST (the clocks
        # went back), inside the window: it goes at once, an hour "earlier" on the wall clock.
        ("2026-10-31T15:00:00", "2026-11-01T15:00:00", "2026-11-01T15:00:00"),
        # Autumn, the evening before: joined Sat 31 October 18:30 MDT (00:30 UTC); due Sun
        # 17:30 MST, inside the window, once.
        ("2026-11-01T00:30:00", "2026-11-02T00:30:00", "2026-11-02T00:30:00"),
    ],
)
def test_a_step_a_day_after_joining_goes_once_at_the_right_moment_over_a_change(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    joined: str,
    due: str,
    sent_at: str,
) -> None:
    monkeypatch.setenv("MAILER_SEQUENCES__SEND_BETWEEN", "08:00-19:00")
    workspace = Workspace(workspace.root)
    assert workspace.settings.schedule.timezone == "America/Denver"
    _step(workspace, "welcome-1-next-day", "The next day", "1d")
    approve_file(workspace, sessions, workspace.campaigns_dir / "welcome-1-next-day.md")
    joined_at = datetime.fromisoformat(joined).replace(tzinfo=UTC)
    with transaction(sessions) as session:
        person = add_subscriber(session, "jane@example.com")
        enrol(session, person.id, joined_at, source="test")

    sent = _first_sent(workspace, sessions, joined_at, hours=48)

    assert sent == [datetime.fromisoformat(sent_at).replace(tzinfo=UTC)]
    assert sent[0] >= datetime.fromisoformat(due).replace(tzinfo=UTC)
    assert _recipients(workspace, "welcome-1-next-day") == ["jane@example.com"]
