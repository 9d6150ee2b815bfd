"""`mailer draft SOURCE...`: one campaign file from one or more articles."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the draft command to the root app."""
