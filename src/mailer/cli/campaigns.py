"""`mailer draft`, `preview`, `check`, `approve`: from article to a campaign staff can trust."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the campaign commands to the root app."""
