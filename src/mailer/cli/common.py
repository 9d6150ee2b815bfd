"""What every command shares: the consoles, the chosen workspace, the database, and `command`,
the one way a command is declared (see mailer.cli)."""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperOption

if TYPE_CHECKING:  # kept out of start-up: `mailer --help` and `mailer draft` need no database
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from mailer.workspace import Workspace

Command = TypeVar("Command", bound=Callable[..., Any])

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class CliState:
    workspace_path: Path | None = None
    log_level: str | None = None  # --log-level, when given
    _workspace: Workspace | None = None
    _db: tuple[Engine, sessionmaker[Session]] | None = None

    def choose(self, workspace_path: Path | None) -> None:
        """A new command line: forget what an earlier one in this process opened."""
        if self._db is not None:
            self._db[0].dispose()
        self.workspace_path = workspace_path
        self._workspace = None
        self._db = None
        console.quiet = False  # an earlier --json command in this process silenced it

    def start_logging(self, level: str | None) -> None:
        """Logs on stderr at --log-level (default warning) in MAILER_LOG_FORMAT, secrets masked.

        A bad MAILER_LOG_FORMAT is a configuration error; an unreadable secret file is left
        for the command that needs the secret to report.
        """
        from mailer.config import load_secrets, log_format
        from mailer.errors import ConfigError
        from mailer.logs import configure

        self.log_level = level
        try:
            secrets = load_secrets().values()
        except ConfigError:
            secrets = []
        configure(level or "warning", log_format(), secrets)

    def service_logging(self) -> None:
        """A long-running service (serve, worker, scheduler run) logs at info unless told."""
        from mailer.logs import set_level

        if self.log_level is None:
            set_level("info")

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
            from mailer.store.db import open_database

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


def quiet_for_json(as_json: bool) -> None:
    """With --json the command's own text stays off stdout: print_json writes the document.
    (CliState.choose turns it back on for the next command line in the same process.)"""
    if as_json:
        console.quiet = True


def display_path(path: Path) -> str:
    """Relative to the current folder when inside it (easy to paste), else absolute."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:  # another drive on Windows
        return str(path)


def print_json(document: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    sys.stdout.write(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")


class HelpCommand(TyperCommand):
    """Every command's help, one way: a flag (``--dry-run``) shows no value label, since it
    takes none (Typer labels it ``<bool>``); an option's value is named in capitals as the
    option is (``--tag TAG``), unless it has its own metavar (``--url URL``), never as a Python
    type (``<list[str]>``); an argument is named once, in capitals, as in the usage line
    (``CAMPAIGN``), without a type after it."""

    def get_params(self, ctx: Any) -> list[Any]:  # typer._click.Context
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperOption) and param.metavar is None:
                if param.is_flag:
                    param.metavar = ""  # shown as the value label: nothing
                elif param.name:  # the value named as the option is, like the given ones (URL)
                    param.metavar = param.name.upper().replace("_", "-")
            elif isinstance(param, TyperArgument):
                if param.metavar is None and param.name:
                    param.metavar = param.name.upper()
                vars(param)["display_type_rich"] = _no_type  # the name says what it is
        return params


def _no_type(ctx: typer.Context) -> None:
    return None


def command(app: typer.Typer, name: str) -> Callable[[Command], Command]:
    """Declare ``function`` as the command ``name`` of its module's ``app``; its docstring is
    its help, flowed: each paragraph becomes one line the terminal wraps to its width
    (indented lines, the examples, stay as written), so no line breaks early and then again."""

    def declare(function: Command) -> Command:
        doc = function.__doc__ or ""
        app.command(name, help=flowed(doc), cls=HelpCommand)(function)
        return function

    return declare


def flowed(doc: str) -> str:
    """Docstring -> help text: each paragraph on one line, so the terminal wraps it.

    Rich help keeps single line breaks; indented lines (examples) stay on their own line.
    """
    paragraphs: list[str] = []
    for block in inspect.cleandoc(doc).split("\n\n"):
        lines = block.splitlines()
        if paragraphs and all(line.startswith(" ") for line in lines):
            # Examples after "... Examples:": under that word on a line of its own, indented.
            # (Typer dedents all but a paragraph's first line: with every later line indented
            # the examples would lose their indent.)
            head, _, label = paragraphs[-1].rpartition(" ")
            if head and label.endswith(":"):
                paragraphs[-1] = f"{head}\n{label}"
            paragraphs[-1] += "\n" + block
        elif any(line.startswith(" ") for line in lines[1:]):
            paragraphs.append(block)
        else:
            paragraphs.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)
