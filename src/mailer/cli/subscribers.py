"""`mailer subscribers ...`: the list of people we may write to."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Manage the subscriber list: import, add, unsubscribe, delete, list, export.",
    no_args_is_help=True,
)
