"""Engine, sessions, schema upgrades. SQLite by default (WAL, foreign keys), PostgreSQL at scale."""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import StorageError, UsageError

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (with Mako and Pygments behind it) is imported only when the schema is not already
# current (``_current_heads``): it was a fifth of `mailer send`'s start-up (issue 17).
_VERSIONS = Path(str(resources.files("mailer") / "store" / "migrations" / "versions"))
_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas mailer relies on. Raises StorageError for a bad URL."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, **kwargs)
            event.listen(engine, "connect", _postgresql_session)
            _ping_when_idle(engine)
    except (ArgumentError, ImportError) as err:
        raise StorageError(
            f"database.url {url!r} cannot be used: {err}",
            hint="use sqlite:///mailer.db or postgresql+psycopg://user@host/dbname",
        ) from err
    return engine


# A pooled PostgreSQL connection is pinged at checkout only once it has sat unused in the pool
# this long. SQLAlchemy's pool_pre_ping pinged at every checkout: a round trip per statement,
# 7 % of a busy worker's CPU and a wake-up of its server process per statement (issue 17); a
# connection given back milliseconds ago is as alive as the ping would show. One idle longer
# (a worker waiting for work, a server restarted meanwhile) is pinged as before, and a dead one
# replaced before anyone uses it. A connection that dies while in use fails its statement, as
# it could just after a ping too; SQLAlchemy then discards every connection of the pool.
PING_AFTER_IDLE = 2.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            # The pool replaces this connection with a new one (up to three tries).
            raise DisconnectionError(f"pooled connection no longer works: {err}") from err

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _postgresql_session(dbapi_connection: Any, _record: Any) -> None:
    # Always a plan for the parameters at hand. psycopg prepares a statement on the server from
    # its fifth run on, and PostgreSQL then may switch to a generic plan, blind to the values:
    # the delivery ledger's statements (delivery/ledger/pg.py) steer the planner with them (a
    # batch's id range). Measured 2026-12-02, one worker, 30,000 recipients, load 4.5-5: "this
    # batch SENT, the next SENDING" took 72-93 ms a batch with generic plans, 27-35 ms without;
    # 4,100-4,800 recipients/s against 6,500-8,100. Planning costs under a millisecond.
    # Set when the connection opens (one round trip per connection, not per statement).
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode TO force_custom_plan")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed at the end, rolled back whole on any error."""
    with factory() as session, session.begin():
        yield session


def insert_ignoring_duplicates(session: Session, table: Table, *keys: str) -> Insert:
    """INSERT ... ON CONFLICT (``keys``) DO NOTHING, on SQLite and PostgreSQL alike.

    A row whose unique ``keys`` already exist is skipped, also when another transaction
    inserts it at the same moment (the unique index decides, not an earlier SELECT): the way
    to make "stored once" hold under retries and races. Add ``.returning(...)`` to learn which
    rows were added (rowcount is -1 for such statements on psycopg).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    raise StorageError(
        f"mailer stores its data in SQLite or PostgreSQL, not {dialect}",
        hint="set database.url to sqlite:///mailer.db or postgresql+psycopg://user@host/dbname",
    )


_MIGRATIONS = str(Path(str(resources.files("mailer") / "store" / "migrations")))


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


@dataclass(frozen=True)
class SchemaState:
    """The migrations the database has applied (``current``) and the newest this code knows."""

    current: tuple[str, ...]
    head: tuple[str, ...]
    unknown: tuple[str, ...] = ()  # applied revisions this code lacks: a newer mailer's

    @property
    def is_current(self) -> bool:
        return set(self.current) == set(self.head)

    @property
    def is_newer(self) -> bool:
        """The database was upgraded by a newer version of mailer than this one."""
        return bool(self.unknown)

    @staticmethod
    def describe(revisions: tuple[str, ...]) -> str:
        return ", ".join(revisions) if revisions else "none (no tables yet)"


@cache
def _migrations() -> tuple[frozenset[str], tuple[str, ...]]:
    """Every revision the shipped migration scripts define, and the heads. They are package
    data, the same for the life of the process, so they are read once: parsing them took
    20-90 ms, paid by every open_database (each app the web tests start, each in-process
    command)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    script = ScriptDirectory.from_config(config)
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return known, tuple(sorted(script.get_heads()))


def schema_state(engine: Engine) -> SchemaState:
    """Where the schema is and where it should be. Raises StorageError when unreachable."""
    from alembic.runtime.migration import MigrationContext

    known, heads = _migrations()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except OperationalError as err:
        raise _unreachable(engine, err) from err
    return SchemaState(tuple(sorted(current)), heads, tuple(sorted(set(current) - known)))


def upgrade_schema(engine: Engine) -> SchemaState:
    """Bring the schema to the newest migration; the state it was in before.

    Commands call this themselves unless database.auto_upgrade is false (`mailer db upgrade`
    then does it, as a deliberate step).

    On SQLite the migrations run with foreign keys off, as SQLite's procedure for rebuilding a
    table requires (https://sqlite.org/lang_altertable.html#otheralter): with them on, dropping
    the old copy of a table would cascade into every table that refers to it. Afterwards
    ``PRAGMA foreign_key_check`` must find nothing the migrations broke, or all is rolled back
    (one explicit transaction, DDL included).
    """
    from alembic import command

    try:
        before = schema_state(engine)
        if before.is_current:
            return before
        config = _alembic_config(engine)
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:  # a no-op inside a transaction: set it before one begins
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    if sqlite:  # pysqlite begins only before DML: DDL too must be undoable
                        connection.exec_driver_sql("BEGIN")
                    problems = _foreign_key_problems(connection) if sqlite else set()
                    config.attributes["connection"] = connection
                    command.upgrade(config, "heads")  # several branches may be merged later
                    if sqlite and (broken := _foreign_key_problems(connection) - problems):
                        raise StorageError(
                            "database schema upgrade failed: it would leave rows referring to "
                            f"missing rows ({sorted(broken)[:3]}); nothing was changed"
                        )
            finally:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()
        return before
    except OperationalError as err:
        raise _unreachable(engine, err) from err
    except SQLAlchemyError as err:
        raise StorageError(f"database schema upgrade failed: {err}") from err


def _foreign_key_problems(connection: Connection) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}


@cache  # package data: read once per process, as _migrations
def known_heads() -> frozenset[str] | None:
    """The head revisions of the migrations shipped, read from their files' ``revision`` and
    ``down_revision`` lines without importing Alembic; None when a file does not say them
    plainly (then Alembic decides). tests/test_start_up.py checks it against Alembic's heads."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in _VERSIONS.glob("*.py"):
            found = dict(
                (name, ast.literal_eval(value))
                for name, value in _REVISION.findall(path.read_text(encoding="utf-8"))
            )
            if path.name == "__init__.py" and not found:
                continue
            revision, down = found["revision"], found["down_revision"]
            revisions.add(revision)
            parents.update((down,) if isinstance(down, str) else down or ())
    except (OSError, KeyError, ValueError, SyntaxError, TypeError):
        return None
    return frozenset(revisions - parents) or None


def _current_heads(engine: Engine) -> SchemaState | None:
    """The state, when the database is exactly at the shipped heads (no Alembic); else None."""
    heads = known_heads()
    if heads is None:
        return None
    try:
        with engine.connect() as connection:
            current = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            applied = frozenset(row[0] for row in current)
    except SQLAlchemyError:  # no table yet, unreachable...: Alembic's path says what is wrong
        return None
    if applied != heads:
        return None
    return SchemaState(tuple(sorted(applied)), tuple(sorted(heads)))


def require_current_schema(engine: Engine) -> None:
    """With database.auto_upgrade = false: refuse (exit 2) while the schema is behind."""
    state = schema_state(engine)
    if state.is_newer:
        raise UsageError(
            f"the database schema is at revision {state.describe(state.current)}, made by a "
            f"newer version of mailer (this one knows up to {state.describe(state.head)})",
            hint="install the same version of mailer everywhere that shares this database",
        )
    if not state.is_current:
        raise UsageError(
            f"the database schema is at revision {state.describe(state.current)}; this version "
            f"of mailer needs {state.describe(state.head)}",
            hint="run `mailer db upgrade` first (database.auto_upgrade is false, so commands "
            "do not upgrade it themselves)",
        )


def _unreachable(engine: Engine, err: OperationalError) -> StorageError:
    return StorageError(
        f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: "
        f"{err.orig}",
        hint="check database.url in mailer.toml (or MAILER_DATABASE__URL) and that the "
        "server is running",
    )


def open_database(url: str, *, auto_upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """Engine plus session factory, the schema upgraded (or, without auto_upgrade, checked)."""
    engine = make_engine(url)
    if _current_heads(engine) is not None:
        pass  # the usual case, decided without Alembic
    elif auto_upgrade:
        upgrade_schema(engine)
    else:
        require_current_schema(engine)
    return engine, session_factory(engine)
