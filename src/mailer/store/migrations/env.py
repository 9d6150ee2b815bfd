"""Alembic environment: runs on the connection mailer hands over (see mailer.store.db), or on the
URL in the Alembic config when run from the `alembic` command line."""

from alembic import context
from sqlalchemy import Connection, create_engine

from mailer.store.models import Base

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as connection:
        run_migrations(connection)
