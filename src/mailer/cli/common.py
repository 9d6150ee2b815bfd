"""What every command shares: the consoles, the chosen workspace, the database."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:  # kept out of start-up: `mailer --help` and `mailer draft` need no database
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from mailer.workspace import Workspace

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class CliState:
    workspace_path: Path | None = None
    _workspace: Workspace | None = None
    _db: tuple[Engine, sessionmaker[Session]] | None = None

    def choose(self, workspace_path: Path | None) -> None:
        """A new command line: forget what an earlier one in this process opened."""
        if self._db is not None:
            self._db[0].dispose()
        self.workspace_path = workspace_path
        self._workspace = None
        self._db = None

    def workspace(self) -> Workspace:
        if self._workspace is None:
            from mailer.workspace import find_workspace

            self._workspace = find_workspace(self.workspace_path)
            _ = self._workspace.settings  # configuration errors surface before any work
            _ = self._workspace.secrets  # ...and so does an unreadable <NAME>_FILE
        return self._workspace

    def database(self) -> sessionmaker[Session]:
        """Session factory for the workspace's database, schema upgraded (or, with
        database.auto_upgrade = false, checked: a schema behind is refused)."""
        if self._db is None:
            from mailer.db import open_database

            workspace = self.workspace()
            self._db = open_database(
                workspace.database_url, auto_upgrade=workspace.settings.database.auto_upgrade
            )
        return self._db[1]

    def engine(self) -> Engine:
        self.database()
        assert self._db is not None
        return self._db[0]


state = CliState()


def print_json(document: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    sys.stdout.write(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")
