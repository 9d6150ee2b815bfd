"""The series' tests run at any hour and with steps seconds apart: quiet hours and min_gap are
off unless a test sets them (tests/sequences/test_quiet.py and test_min_gap.py do, with an
injected clock)."""

from __future__ import annotations

import pytest

from mailer.workspace import Workspace


@pytest.fixture(autouse=True)
def any_hour(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SEQUENCES__SEND_BETWEEN", "")
    monkeypatch.setenv("MAILER_SEQUENCES__MIN_GAP", "0s")
