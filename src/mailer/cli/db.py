"""`mailer db upgrade` and `mailer db status`: the database schema as a deliberate step.

Commands upgrade the schema themselves when they open the database, unless
database.auto_upgrade is false (production deployments that upgrade in one place, before the
services start). These two commands open the database without that step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import typer

from mailer.cli.common import command

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    help="The database schema: upgrade it after installing a new version, or see where it is.",
    no_args_is_help=True,
)


@dataclass(frozen=True)
class SchemaReport:
    """What `mailer db status --json` and `mailer db upgrade --json` print."""

    database: str  # the URL without its password
    current: list[str]
    head: list[str]
    up_to_date: bool
    upgraded_from: list[str] | None = None  # `db upgrade`: the revision before it

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@command(app, "upgrade")
def upgrade_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Bring the database schema up to this version of mailer, and say from which revision to
    which. Safe to run again: an up-to-date schema is left alone.

    Run it once after installing a new version, before starting the services (with several
    machines: once, from one of them). Back up the database first.

    Example: mailer db upgrade
    """
    from rich.markup import escape

    from mailer.cli.common import console, print_json
    from mailer.store.db import SchemaState, schema_state, upgrade_schema

    engine, where = _engine()
    try:
        before = upgrade_schema(engine)
        after = schema_state(engine)
    finally:
        engine.dispose()
    report = SchemaReport(
        where, list(after.current), list(after.head), after.is_current, list(before.current)
    )
    if as_json:
        print_json(report.as_dict())
    elif before.is_current:
        console.print(
            f"The database schema is already at revision {SchemaState.describe(after.current)}, "
            "the newest; nothing to do."
        )
    else:
        console.print(
            f"Upgraded the database schema of {escape(where)} from revision "
            f"{SchemaState.describe(before.current)} to {SchemaState.describe(after.current)}."
        )


@command(app, "status")
def status_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Show the database schema's revision and the newest this version of mailer knows.

    Exit status 1 when the schema is behind (`mailer db upgrade` brings it up to date) or the
    database cannot be reached: usable as a health check.

    Example: mailer db status --json
    """
    from mailer.cli.common import console, print_json, quiet_for_json
    from mailer.errors import SchemaBehind
    from mailer.store.db import SchemaState, schema_state

    quiet_for_json(as_json)
    engine, where = _engine()
    try:
        state = schema_state(engine)
    finally:
        engine.dispose()
    current, head = list(state.current), list(state.head)
    document = SchemaReport(where, current, head, state.is_current).as_dict()
    if state.is_current:
        console.print(
            f"Database schema: revision {SchemaState.describe(state.current)}, up to date."
        )
    elif state.is_newer:
        console.print(
            f"Database schema: revision {SchemaState.describe(state.current)}, made by a newer "
            f"version of mailer (this one knows up to {SchemaState.describe(state.head)}). "
            "Install that version here."
        )
    else:
        console.print(
            f"Database schema: revision {SchemaState.describe(state.current)}; this version of "
            f"mailer needs {SchemaState.describe(state.head)}. Run `mailer db upgrade`."
        )
    if not state.is_current:
        raise SchemaBehind(
            f"database schema at revision {SchemaState.describe(state.current)}, "
            f"not {SchemaState.describe(state.head)}",
            document=document,
            reported=True,
        )
    if as_json:
        print_json(document)


def _engine() -> tuple[Engine, str]:
    """The workspace's database, opened without the automatic upgrade; its URL sans password."""
    from mailer.cli.common import state
    from mailer.store.db import make_engine

    engine = make_engine(state.workspace().database_url)
    return engine, engine.url.render_as_string(hide_password=True)
