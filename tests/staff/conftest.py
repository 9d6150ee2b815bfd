"""Fixtures of the staff web app tests: a real `mailer serve` app (uvicorn on loopback) with an
injected clock, a browser-like HTTP client per person, and the `mailer` command in-process.

The web tests run on SQLite (``sqlite_workspace``); the storage tests of mailer.staff take the
shared ``database_url`` fixture and run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.cli import main
from mailer.cli.common import state
from mailer.staff import accounts
from mailer.staff.accounts import Role
from mailer.store.db import transaction
from mailer.store.models import Base
from mailer.web.app import create_app
from mailer.workspace import Workspace
from tests.web_server import _free_port

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
IDLE = timedelta(hours=8)  # [staff] session_idle by default
PASSWORD = "purple lantern orbit 7"  # passes the strength rule
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """The staff pages' clock (app.state.staff_clock): stands still until moved."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class StaffServer:
    url: str
    app: FastAPI
    workspace: Workspace
    clock: Clock
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def sessions(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.context.sessions
        return factory

    def client(self) -> httpx.Client:
        """A new browser: its own cookies, redirects not followed (tests look at them)."""
        http = httpx.Client(base_url=self.url, timeout=20, follow_redirects=False)
        self.clients.append(http)
        return http

    def add(self, email: str, role: Role = Role.OWNER, password: str | None = PASSWORD) -> None:
        with transaction(self.sessions) as db:
            accounts.add(db, email, role, now=self.clock(), name="", password=password)

    def signed_in(self, email: str, role: Role = Role.OWNER) -> httpx.Client:
        """A browser signed in as a new account with this address."""
        self.add(email, role)
        http = self.client()
        response = sign_in(http, email, PASSWORD)
        assert response.status_code == 303, response.text
        return http


def csrf_token(page: httpx.Response) -> str:
    found = CSRF_FIELD.search(page.text)
    assert found, f"no csrf_token field on {page.url}"
    return found.group(1)


def sign_in(http: httpx.Client, email: str, password: str, next: str = "") -> httpx.Response:
    """Open the sign-in page as a browser does (it sets the form cookie), then send the form."""
    page = http.get("/staff/login", params={"next": next} if next else None)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_token(page), "email": email, "password": password}
    if next:
        form["next"] = next
    return http.post("/staff/login", data=form)


def run_app(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port while the generator is open."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("mailer serve did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def sqlite_workspace(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The test's workspace on its own SQLite database, settings read afresh."""
    monkeypatch.setenv("MAILER_DATABASE__URL", f"sqlite:///{workspace.root / 'mailer.db'}")
    return Workspace(workspace.root)


def start_server(workspace: Workspace, clock: Clock) -> Iterator[StaffServer]:
    app = create_app(workspace, host="127.0.0.1")
    app.state.staff_clock = clock
    for url in run_app(app):
        server = StaffServer(url, app, workspace, clock)
        try:
            yield server
        finally:
            for http in server.clients:
                http.close()


@pytest.fixture
def staff_server(sqlite_workspace: Workspace) -> Iterator[StaffServer]:
    yield from start_server(sqlite_workspace, Clock())


def database_state(factory: sessionmaker[Session], workspace: Workspace) -> dict[str, Any]:
    """Every row of every table, and every campaign file: to show a request changed nothing."""
    snapshot: dict[str, Any] = {}
    with factory() as db:
        for table in Base.metadata.sorted_tables:
            rows = db.execute(select(table)).all()
            snapshot[table.name] = sorted(repr(tuple(row)) for row in rows)
    campaigns = workspace.campaigns_dir
    snapshot["campaign files"] = sorted(
        (path.name, path.read_bytes()) for path in Path(campaigns).glob("*.md")
    )
    return snapshot


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def mailer(
    sqlite_workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """`mailer ARGS...` in-process on the test's workspace; ``stdin=`` feeds standard input."""

    def run(*args: str, stdin: str = "") -> Run:
        state.workspace_path = None
        state._workspace = None
        state._db = None
        monkeypatch.setattr(
            sys, "argv", ["mailer", "--workspace", str(sqlite_workspace.root), *args]
        )
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            if state._db is not None:
                state._db[0].dispose()
            state._db = None
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
