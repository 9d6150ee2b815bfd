"""A request that waits out SQLite's busy timeout behind a long writer (a first import of a
large list is one transaction) is a 503 with Retry-After, never a 500; the same request
succeeds once the writer is done."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from mailer.store.db import session_factory
from mailer.web.app import create_app
from mailer.web.context import WebContext
from mailer.workspace import Workspace
from tests.web_server import run_app

FORM = {"email": "maria@example.com", "first_name": "Maria", "consent": "yes", "homepage": ""}


def test_a_signup_behind_a_long_writer_is_a_503_to_retry_then_succeeds(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{workspace.root / 'mailer.db'}"
    monkeypatch.setenv("MAILER_DATABASE__URL", url)
    workspace = Workspace(workspace.root)
    app = create_app(workspace, host="127.0.0.1")
    # The app's own sessions, with a busy timeout of 0.2 s instead of 30 (make_engine's).
    impatient = create_engine(url, connect_args={"timeout": 0.2})
    context: WebContext = app.state.context
    app.state.context = WebContext(
        context.workspace, context.settings, session_factory(impatient), context.key
    )
    writer = create_engine(url, isolation_level=None).connect()
    for base in run_app(app):
        writer.exec_driver_sql("BEGIN IMMEDIATE")  # what a one-transaction import holds
        try:
            busy = httpx.post(f"{base}/subscribe", data=FORM)
        finally:
            writer.exec_driver_sql("ROLLBACK")
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "30"
        assert "try again" in busy.text and "Traceback" not in busy.text

        done = httpx.post(f"{base}/subscribe", data=FORM)
        assert done.status_code == 200, done.text
    writer.close()
    with impatient.connect() as connection:
        count = connection.execute(text("select count(*) from subscribers")).scalar_one()
    assert count == 1
    impatient.dispose()


def test_other_database_errors_are_not_called_busy(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A database that is gone is not "busy": the handler lets the error through (500)."""
    app = create_app(workspace, host="127.0.0.1")
    missing = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")
    context: WebContext = app.state.context
    app.state.context = WebContext(
        context.workspace, context.settings, session_factory(missing), context.key
    )
    for base in run_app(app):
        response = httpx.post(f"{base}/subscribe", data=FORM)
        assert response.status_code == 500
