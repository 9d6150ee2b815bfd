"""Shared fixtures. A test that takes `database_url` (or `engine`, `sessions`, `live_server`)
gets a fresh database with the current schema: SQLite, copied from one database migrated once per
session. Tests of dialect-specific storage behaviour (claims, SKIP LOCKED, INSERT ... ON CONFLICT,
leases, the import's merge and bulk insert, migrations, subscriber ids) are marked
`both_databases` and run once on SQLite and once on PostgreSQL, as is everything under
tests/contract/; every other test runs on SQLite only.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from mailer.staff import passwords
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


BOTH_DATABASES = "both_databases"
CONTRACT_TESTS = Path(__file__).parent / "contract"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{BOTH_DATABASES}: dialect-specific storage behaviour; `database_url` is SQLite, then "
        "PostgreSQL (ids [sqlite] and [postgresql])",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`database_url` is [sqlite], or [sqlite] and [postgresql] for tests marked both_databases
    and the contract suite (the ids, and `request.node.callspec`, stay as they were when every
    test ran on both); a test that parametrizes `database_url` itself is left as it is."""
    if "database_url" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if "database_url" in (
            [n.strip() for n in names.split(",")] if isinstance(names, str) else names
        ):
            return
    contract = CONTRACT_TESTS in Path(str(metafunc.definition.path)).parents
    both = contract or metafunc.definition.get_closest_marker(BOTH_DATABASES) is not None
    metafunc.parametrize(
        "database_url", ["sqlite", "postgresql"] if both else ["sqlite"], indirect=True
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the PostgreSQL server carries the `postgres` marker (make quick
    leaves them out): the [postgresql] runs and the users of the session's database. Tests that
    make their own database with fresh_postgres_database are marked by hand."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgresql = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if on_postgresql or "postgres_database" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per session; each test gets a copy of the file
    (a copy takes under a millisecond, running the migrations 0.15-0.5 s on this machine)."""
    path = tmp_path_factory.mktemp("template") / "mailer.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test's database, schema current: a fresh SQLite file, or with both_databases also
    the session's PostgreSQL database, emptied."""
    if getattr(request, "param", "sqlite") == "sqlite":
        path = tmp_path / "mailer.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
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
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path) -> Workspace:
    """A fresh workspace from `mailer init`, with no MAILER_* variables leaking in. Its own
    database (mailer.db, the default URL) is a copy of the migrated template: the first command
    of a test found it missing and ran every migration, 0.31 s (46 times in make quick, 14 s)."""
    for name in list(os.environ):
        if name.startswith("MAILER_") or name == "SENDGRID_API_KEY":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAILER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    made = init_workspace(tmp_path / "ws")
    shutil.copyfile(sqlite_template, made.root / "mailer.db")
    return made


@pytest.fixture
def unused_workspace(workspace: Workspace) -> Workspace:
    """A workspace as `mailer init` leaves it, before any command: no database yet."""
    (workspace.root / "mailer.db").unlink()
    return workspace


@pytest.fixture(scope="session", autouse=True)
def one_root_certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """SSL_CERT_FILE: one root certificate, of a name no server here has, instead of the whole
    CA bundle. The tests reach only loopback servers, over plain HTTP, or over TLS with their own
    self-signed certificate (untrusted either way), yet every httpx client loaded the bundle:
    27 ms of CPU each (0.7 ms with one root), 280 clients in make quick. It replaces a
    SSL_CERT_FILE set by the caller too: this machine sets it to the whole Debian bundle
    (/etc/ssl/certs/ca-certificates.crt, 39 ms a client), which made the fixture do nothing
    while it let the caller's through (18.5 s of a 172 s cProfile of tests/staff and tests/web)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailer tests: trusted by nothing")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("ca") / "root.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(path))
        yield


# The cheapest Argon2id parameters (8 KiB, one pass: 0.1 ms a hash). Every staff account made and
# every sign-in in the tests hashed with the production ones (64 MiB, 3 passes: 0.25 s a hash
# here quiet, 1.7 s at load 8), a third of `make quick`; the hashes still are real Argon2id ones.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """mailer.staff.passwords hashes with TEST_HASHER in this process (a real `mailer` process
    started by a test uses the production parameters, and verifies these hashes all the same)."""
    previous = passwords.use_hasher(TEST_HASHER)
    yield
    passwords.use_hasher(previous)


@pytest.fixture
def production_hasher() -> Iterator[None]:
    """The production hasher for one test: for the tests of the parameters themselves."""
    previous = passwords.use_hasher(passwords.PRODUCTION)
    yield
    passwords.use_hasher(previous)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    _require(
        shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists(),
        f"{CHROMIUM} not installed (apt-get install chromium)",
    )
    return CHROMIUM


from tests.cli_runner import mailer  # noqa: E402,F401 - the command line, for every CLI test
from tests.web_server import live_server  # noqa: E402,F401 - fixture for the web tests
