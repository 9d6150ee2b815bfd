"""`GET /readyz`, `mailer db upgrade|status` and database.auto_upgrade (issue 18 item 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mailer.errors import UsageError
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.store.leases import Lease
from mailer.web.app import create_app
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.conftest import fresh_postgres_database
from tests.delivery_helpers import mailer_env
from tests.web_server import LiveServer, serve


@contextmanager
def _version_set_to(database_url: str, revision: str) -> Iterator[None]:
    """alembic_version says `revision` for the duration (restored after: PostgreSQL's test
    database is shared by the session)."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        (current,) = connection.execute(text("select version_num from alembic_version")).one()
        connection.execute(text("update alembic_version set version_num = :v"), {"v": revision})
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("update alembic_version set version_num = :v"), {"v": current})
        engine.dispose()


@pytest.mark.both_databases
def test_readyz_answers_200_with_schema_and_scheduler_lease(
    live_server: LiveServer, database_url: str
) -> None:
    """Issue 18 item 5: ready means the database answers and its schema is at head; the
    scheduler's lease state is reported beside it (no host or process named)."""
    response = httpx.get(f"{live_server.url}/readyz")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    assert document["status"] == "ready" and document["database"] == "ok"
    assert document["schema"]["up_to_date"] is True
    assert document["schema"]["current"] == document["schema"]["head"] != []
    assert document["scheduler"] == {"state": "none"}

    engine = make_engine(database_url)
    try:
        assert Lease(session_factory(engine)).try_acquire()
    finally:
        engine.dispose()
    scheduler = httpx.get(f"{live_server.url}/readyz").json()["scheduler"]
    assert scheduler["state"] == "active" and scheduler["renewed_seconds_ago"] < 30
    assert set(scheduler) == {"state", "renewed_seconds_ago"}
    assert httpx.get(f"{live_server.url}/healthz").text == "ok"


@pytest.mark.parametrize(
    ("revision", "says"),
    [("0300", "behind: run `mailer db upgrade`"), ("9999zz", "newer than this version")],
)
@pytest.mark.both_databases
def test_readyz_is_503_while_the_schema_is_not_the_codes(
    live_server: LiveServer, database_url: str, revision: str, says: str
) -> None:
    """Issue 18 item 5: a schema behind (upgrade due) or ahead (a newer mailer upgraded it on
    another machine) is not ready: 503 with the reason, and nothing about the database's
    address in the public answer."""
    with _version_set_to(database_url, revision):
        response = httpx.get(f"{live_server.url}/readyz")
    assert response.status_code == 503
    document = response.json()
    assert document["status"] == "not ready" and says in document["reason"]
    assert document["schema"]["current"] == [revision]
    for private in ("127.0.0.1", "sqlite", "postgres", str(live_server.workspace.root)):
        assert private not in response.text
    assert httpx.get(f"{live_server.url}/readyz").status_code == 200  # restored


@pytest.mark.postgres
def test_readyz_is_503_when_the_database_is_gone(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18 item 5: PostgreSQL stops answering (here: its database is dropped under the
    running server): 503 "cannot be reached", no stack trace, no server name."""
    with fresh_postgres_database() as (url, admin):
        monkeypatch.setenv("MAILER_DATABASE__URL", url)
        name = make_url(url).database or ""
        for server in serve(Workspace(workspace.root)):
            assert httpx.get(f"{server.url}/readyz").status_code == 200
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            response = httpx.get(f"{server.url}/readyz", timeout=30)
            assert response.status_code == 503
            assert response.json() == {
                "status": "not ready",
                "reason": "the database cannot be reached",
                "database": "unreachable",
            }
            assert name not in response.text and "Traceback" not in response.text


@pytest.mark.slow
def test_without_auto_upgrade_commands_refuse_until_db_upgrade(
    mailer: Mailer, unused_workspace: Workspace
) -> None:
    """Issue 18 item 5: with database.auto_upgrade = false a command refuses (exit 2, with the
    hint) while the schema is behind, `mailer db status` exits 1, and `mailer db upgrade` says
    from which revision to which; after it the command runs."""
    off = {"MAILER_DATABASE__AUTO_UPGRADE": "false"}
    refused = mailer("subscribers", "list", env=mailer_env(**off), process=True)
    assert refused.exit_code == 2, refused.stderr
    assert "mailer db upgrade" in refused.stderr and "Traceback" not in refused.stderr

    status = mailer("db", "status", "--json", env=mailer_env(**off), process=True)
    assert status.exit_code == 1
    document = json.loads(status.stdout)
    assert document["current"] == [] and document["up_to_date"] is False
    head = document["head"]

    upgraded = mailer("db", "upgrade", env=mailer_env(**off), process=True)
    assert upgraded.exit_code == 0, upgraded.stderr
    assert f"from revision none (no tables yet) to {head[0]}" in upgraded.stdout
    again = mailer("db", "upgrade", "--json", env=mailer_env(**off), process=True)
    assert json.loads(again.stdout)["upgraded_from"] == head
    assert "already" in mailer("db", "upgrade", env=mailer_env(**off), process=True).stdout

    assert mailer("db", "status", env=mailer_env(**off), process=True).exit_code == 0
    listed = mailer("subscribers", "list", env=mailer_env(**off), process=True)
    assert listed.exit_code == 0 and "0 subscribers" in listed.stdout


@pytest.mark.slow
def test_auto_upgrade_is_the_default(mailer: Mailer, unused_workspace: Workspace) -> None:
    """Issue 18 item 5: without the setting, commands keep upgrading the schema themselves."""
    listed = mailer("subscribers", "list", env=mailer_env(), process=True)
    assert listed.exit_code == 0, listed.stderr
    assert mailer("db", "status", env=mailer_env(), process=True).exit_code == 0


def test_serve_refuses_to_start_on_an_old_schema_without_auto_upgrade(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18 item 5: `mailer serve` is a command like the others: exit 2 and the hint."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '0300'"))
    engine.dispose()
    monkeypatch.setenv("MAILER_DATABASE__URL", url)
    monkeypatch.setenv("MAILER_DATABASE__AUTO_UPGRADE", "false")
    with pytest.raises(UsageError) as caught:
        create_app(Workspace(workspace.root), host="127.0.0.1")
    assert "revision 0300" in caught.value.message and caught.value.exit_code == 2
    assert "mailer db upgrade" in (caught.value.hint or "")
