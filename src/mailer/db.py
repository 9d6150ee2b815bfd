"""Engine, sessions, schema upgrades. SQLite by default (WAL, foreign keys), PostgreSQL at scale."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import StorageError


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas mailer relies on. Raises StorageError for a bad URL."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, **kwargs)
    except (ArgumentError, ImportError) as err:
        raise StorageError(
            f"database.url {url!r} cannot be used: {err}",
            hint="use sqlite:///mailer.db or postgresql+psycopg://user@host/dbname",
        ) from err
    return engine


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


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(str(resources.files("mailer") / "migrations")))
    )
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def schema_is_current(engine: Engine) -> bool:
    script = ScriptDirectory.from_config(_alembic_config(engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration. Commands call this themselves.

    On SQLite the migrations run with foreign keys off, as SQLite's procedure for rebuilding a
    table requires (https://sqlite.org/lang_altertable.html#otheralter): with them on, dropping
    the old copy of a table would cascade into every table that refers to it. Afterwards
    ``PRAGMA foreign_key_check`` must find nothing the migrations broke, or all is rolled back
    (one explicit transaction, DDL included).
    """
    try:
        if schema_is_current(engine):
            return
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
                    before = _foreign_key_problems(connection) if sqlite else set()
                    config.attributes["connection"] = connection
                    command.upgrade(config, "heads")  # several branches may be merged later
                    if sqlite and (broken := _foreign_key_problems(connection) - before):
                        raise StorageError(
                            "database schema upgrade failed: it would leave rows referring to "
                            f"missing rows ({sorted(broken)[:3]}); nothing was changed"
                        )
            finally:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()
    except OperationalError as err:
        raise StorageError(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{err.orig}",
            hint="check database.url in mailer.toml (or MAILER_DATABASE__URL) and that the "
            "server is running",
        ) from err
    except SQLAlchemyError as err:
        raise StorageError(f"database schema upgrade failed: {err}") from err


def _foreign_key_problems(connection: Connection) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Engine plus session factory with the schema upgraded."""
    engine = make_engine(url)
    upgrade_schema(engine)
    return engine, session_factory(engine)
