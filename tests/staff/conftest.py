"""Fixtures of the staff web app tests: a real `mailer serve` app (uvicorn on loopback) with an
injected clock, a browser-like HTTP client per person, and the `mailer` command in-process.

The web tests run on SQLite (``sqlite_workspace``); the storage tests of mailer.staff take the
shared ``database_url`` fixture and run on SQLite and PostgreSQL.

The campaign page tests (from the staffpages work) use ``sign_in_as``: an account made in the
database, then the real sign-in form, for an httpx client or a Playwright context. Their forms
are filled from the page as a browser would: the hidden ``csrf_token`` and ``content_hash``
come from the HTML the test GETs.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.cli import main
from mailer.cli.common import state
from mailer.staff import accounts
from mailer.staff.accounts import Role
from mailer.store.db import open_database, transaction
from mailer.store.models import Base
from mailer.web.app import create_app
from mailer.workspace import Workspace
from tests.web_server import LiveServer, _free_port, run_app, serve

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


@pytest.fixture
def sqlite_workspace(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The test's workspace on its own SQLite database, schema current, settings read afresh."""
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


ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "articles"
ARTIFACTS = ROOT / "tests" / "artifacts"
OWNER = "owner@clinic.example"
EDITOR = "editor@clinic.example"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


def sign_in_as(client: Any, email: str, role: str, workspace: Workspace | None = None) -> None:
    """Sign ``client`` in as ``email`` with ``role`` ("owner" or "editor"): the account is made
    in the workspace's database (once), then the real sign-in form is sent. ``client`` is an
    httpx client, or a Playwright BrowserContext made with the server's base_url (its request
    API shares the context's cookies)."""
    workspace = workspace or _WORKSPACES[-1]
    _, sessions = open_database(workspace.database_url, auto_upgrade=True)
    with transaction(sessions) as db:
        if accounts.find(db, email) is None:
            accounts.add(db, email, Role(role), now=datetime.now(UTC), name="", password=PASSWORD)
    if hasattr(client, "request") and hasattr(client, "set_extra_http_headers"):  # Playwright
        page = client.request.get("/staff/login")
        found = CSRF_FIELD.search(page.text())
        assert found, "no csrf_token on the sign-in page"
        answer = client.request.post(
            "/staff/login",
            form={"csrf_token": found.group(1), "email": email, "password": PASSWORD},
            max_redirects=0,
        )
        assert answer.status == 303, answer.text()
        return
    answer = sign_in(client, email, PASSWORD)
    assert answer.status_code == 303, answer.text


_WORKSPACES: list[Workspace] = []  # the staffpages server fixture's workspace, for sign_in_as


def hidden_fields(html: str, action: str = "") -> dict[str, str]:
    """The hidden inputs of the form posting to ``action`` (the first form when empty)."""
    if action:
        start = html.find(f'action="{action}"')
        assert start >= 0, f"no form posts to {action}"
        html = html[start : html.find("</form>", start)]
    return {name: unescape(value) for name, value in _HIDDEN.findall(html)}


def post_form(client: httpx.Client, page: str, action: str, **fields: str) -> httpx.Response:
    """GET ``page``, then POST ``fields`` with its form's hidden fields to ``action``."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    return client.post(action, data={**hidden_fields(shown.text, action), **fields})


@pytest.fixture
def server(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The app on loopback for a fresh workspace (SQLite in its folder, schema current, outbox
    provider), its links (web.base_url) pointing at the server itself."""
    port = _free_port()
    monkeypatch.setenv("MAILER_WEB__BASE_URL", f"http://127.0.0.1:{port}")
    _WORKSPACES.append(Workspace(workspace.root))
    try:
        yield from serve(Workspace(workspace.root), port)
    finally:
        _WORKSPACES.pop()


@pytest.fixture
def staff_workspace(server: LiveServer) -> Workspace:
    return server.workspace


@pytest.fixture
def app_client(server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client of the app; nobody signed in yet."""
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as client:
        yield client


@pytest.fixture
def owner(app_client: httpx.Client) -> httpx.Client:
    sign_in_as(app_client, OWNER, "owner")
    return app_client


@pytest.fixture
def editor(app_client: httpx.Client) -> httpx.Client:
    sign_in_as(app_client, EDITOR, "editor")
    return app_client


@pytest.fixture
def db(staff_workspace: Workspace) -> sessionmaker[Session]:
    _, sessions = open_database(staff_workspace.database_url, auto_upgrade=True)
    return sessions


def mailer_env(workspace: Workspace) -> dict[str, str]:
    """The environment for a `mailer` subprocess on this workspace (the test's key, no others)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_SECRET_KEY"] = os.environ["MAILER_SECRET_KEY"]
    env["MAILER_WEB__BASE_URL"] = workspace.settings.web.base_url
    return env
