"""Shared fixtures. Storage tests take `database_url`, run once on SQLite and once on PostgreSQL.

PostgreSQL comes from MAILER_TEST_POSTGRES_URL (default: the local server, trust auth). Without a
server the PostgreSQL runs are skipped locally; under CI=true they fail instead of skipping.

Every test of the command line runs it through the one `mailer` fixture (tests.cli_runner).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.store.models import Base
from mailer.workspace import Workspace, init_workspace

POSTGRES_ADMIN_URL = os.environ.get(
    "MAILER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = "/usr/bin/chromium"


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not be skipped)")
    pytest.skip(reason)


@contextmanager
def fresh_postgres_database(prefix: str = "mailer_fresh") -> Iterator[tuple[str, Engine]]:
    """A new, empty PostgreSQL database (no schema) and an admin engine; dropped afterwards."""
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as err:
        _require(False, f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {err}")
        raise
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False), admin
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, schema upgraded."""
    with fresh_postgres_database("mailer_test") as (url, _admin):
        engine = make_engine(url)
        upgrade_schema(engine)
        engine.dispose()
        yield url


def _truncate(engine: Engine) -> None:
    names = [table.name for table in Base.metadata.sorted_tables] + ["apscheduler_jobs"]
    tables = ", ".join(f'"{name}"' for name in names)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The storage contract fixture: each test using it runs on both backends, schema current."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mailer.db'}"
        engine = make_engine(url)
        upgrade_schema(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    _truncate(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A fresh workspace from `mailer init`, with no MAILER_* variables leaking in."""
    for name in list(os.environ):
        if name.startswith("MAILER_") or name == "SENDGRID_API_KEY":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAILER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    return init_workspace(tmp_path / "ws")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    _require(
        shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists(),
        f"{CHROMIUM} not installed (apt-get install chromium)",
    )
    return CHROMIUM


from tests.cli_runner import mailer  # noqa: E402,F401 - the command line, for every CLI test
from tests.web_server import live_server  # noqa: E402,F401 - fixture for the web tests
