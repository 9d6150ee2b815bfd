"""The staff pages under test: the whole `mailer serve` app on loopback (tests/web_server.py),
on the workspace's own SQLite database, with the outbox provider.

``sign_in`` is the ONE place a test becomes a staff member. It stands in for the staffauth
branch's sign-in (an account, then /staff/login) and is re-pointed at it when the branches meet;
tests never sign in any other way. Forms are filled from the page as a browser would: the
hidden ``csrf_token`` and ``content_hash`` come from the HTML the test GETs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.db import open_database
from mailer.workspace import Workspace
from tests.web_server import LiveServer, _free_port, serve

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "articles"
ARTIFACTS = ROOT / "tests" / "artifacts"
OWNER = "owner@clinic.example"
EDITOR = "editor@clinic.example"
_STAND_IN_HEADER = "X-Stand-In-Staff"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


def sign_in(client: Any, email: str, role: str) -> None:
    """Sign ``client`` in as ``email`` with ``role`` ("owner" or "editor").

    ``client`` is an httpx/TestClient client, or a Playwright BrowserContext (made with the
    server's base_url) for the browser tests.
    """
    value = f"{email} {role}"
    if hasattr(client, "set_extra_http_headers"):  # Playwright
        client.set_extra_http_headers({_STAND_IN_HEADER: value})
    else:
        client.headers[_STAND_IN_HEADER] = value


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
    """The app on loopback for a fresh workspace (SQLite in its folder, outbox provider), its
    links (web.base_url) pointing at the server itself."""
    port = _free_port()
    monkeypatch.setenv("MAILER_WEB__BASE_URL", f"http://127.0.0.1:{port}")
    yield from serve(Workspace(workspace.root), port)


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
    sign_in(app_client, OWNER, "owner")
    return app_client


@pytest.fixture
def editor(app_client: httpx.Client) -> httpx.Client:
    sign_in(app_client, EDITOR, "editor")
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
