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
from sqlalchemy import Engine, create_engine, event
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
    """Bring the schema to the newest migration. Commands call this themselves."""
    try:
        if schema_is_current(engine):
            return
        config = _alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")  # several branches may be merged later
    except OperationalError as err:
        raise StorageError(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{err.orig}",
            hint="check database.url in mailer.toml (or MAILER_DATABASE__URL) and that the "
            "server is running",
        ) from err
    except SQLAlchemyError as err:
        raise StorageError(f"database schema upgrade failed: {err}") from err


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Engine plus session factory with the schema upgraded."""
    engine = make_engine(url)
    upgrade_schema(engine)
    return engine, session_factory(engine)
