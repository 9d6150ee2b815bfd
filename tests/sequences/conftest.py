"""The series' tests run at any hour: quiet hours are off unless a test sets them
(tests/sequences/test_quiet.py does, with an injected clock)."""

from __future__ import annotations

import pytest

from mailer.workspace import Workspace


@pytest.fixture(autouse=True)
def any_hour(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SEQUENCES__SEND_BETWEEN", "")
