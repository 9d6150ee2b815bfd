"""The `mailer` command line. Commands are thin: they parse, call the layers below, present.

Conventions every command keeps (README, "Exit status"): 0 done; 1 the work failed or was
refused; 2 a usage or configuration error; 130 interrupted. With --json, a command prints one
JSON document on stdout, errors included (``{"error": {...}}``). Logs go to stderr (see
mailer.logs), never to stdout.

How a command is added (the one way; `mailer staff ...` and every new command follow it):

1. Its module in this package owns one ``app = typer.Typer(...)``: with ``help=`` when its
   commands form a group (``mailer subscribers ...``), without when they stand at the top
   level (``mailer send``).
2. Each command is a function declared with ``@command(app, "name")`` from mailer.cli.common;
   its docstring is its help (first line: the summary; an example at the end), flowed so the
   terminal wraps it. Library
   code is imported inside the function, so `mailer --help` stays quick.
3. The module is registered once, in ``COMMANDS`` below, at its place in `mailer --help`
   (DESIGN.md's order), with its group name or None.
4. A failure is raised, never ``typer.Exit``: a MailerError with a hint (mailer.errors); an
   outcome the command has already reported (a check with errors, a paused send) is an
   OutcomeError, carrying the --json document when there is one. ``main`` below is the one
   place that turns them into the message on stderr, the JSON error and the exit status.
5. A command with --json builds a result dataclass with ``as_dict()`` and prints it with
   ``print_json``; ``quiet_for_json`` keeps its text off stdout.
6. What the command does is app/'s (or the domain's): the command hands it the workspace and
   ``state.database()`` and never queries or opens a session itself (tests/test_layers.py).
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.markup import escape

from mailer.cli import (
    campaign_list,
    campaigns,
    db,
    demo_command,
    draft,
    feed,
    init,
    report,
    scheduler,
    send,
    sequences,
    serve,
    staff,
    subscribers,
)
from mailer.cli.common import err_console, print_json, state
from mailer.errors import Interrupted, MailerError, OutcomeError

# Every command module, in `mailer --help` order, with its group's name (None: its commands
# stand at the top level). DESIGN.md's order; feed and db are not in its table: feed beside the
# scheduler that polls it, db last. `mailer staff` after demo (`mailer sequences` will go after it).
COMMANDS: list[tuple[typer.Typer, str | None]] = [
    (init.app, None),  # init
    (draft.app, None),  # draft
    (campaigns.app, None),  # preview, check, approve, unapprove
    (campaign_list.app, "campaigns"),  # campaigns list
    (subscribers.app, "subscribers"),
    (send.app, None),  # send, worker
    (report.app, None),  # report
    (scheduler.app, "scheduler"),
    (feed.app, "feed"),
    (serve.app, None),  # serve
    (demo_command.app, None),  # demo
    (staff.app, "staff"),
    (sequences.app, "sequences"),
    (db.app, "db"),
]

app = typer.Typer(
    name="mailer",
    help=(
        "Turn your blog articles into a weekly email newsletter, and send it lawfully.\n\n"
        "Run commands inside your newsletter folder (the one with mailer.toml), or pass "
        "--workspace DIR. Start with `mailer init my-newsletter` or `mailer demo`."
    ),
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
for commands, group in COMMANDS:
    app.add_typer(commands, name=group)


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _print_version(value: bool) -> None:
    if value:
        from importlib import metadata  # ~20 ms: only for --version, not at every start

        typer.echo(f"mailer {metadata.version('mailer')}")
        raise typer.Exit()  # an eager option's way to end the command line: exit 0


@app.callback()
def _root(
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help="The newsletter folder (default: $MAILER_WORKSPACE, else the current folder).",
        file_okay=False,
    ),
    log_level: LogLevel | None = typer.Option(
        None,
        "--log-level",
        case_sensitive=False,
        help="How much to log on stderr (default: warning; info for serve, worker and "
        "scheduler run). MAILER_LOG_FORMAT=json logs one JSON object per line.",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    state.choose(workspace)
    state.start_logging(log_level.value if log_level else None)


def main() -> None:
    """Entry point, and the one error mapper: user mistakes and failed outcomes become one
    clear message and an exit status, never a traceback.

    Typer handles usage errors itself (exit 2), unless --json was given: then they, like every
    MailerError (which carries its own exit status), are also the one JSON document on stdout.
    """
    as_json = wants_json(sys.argv[1:])
    try:
        code = app(standalone_mode=not as_json)
    except typer.TyperException as err:  # only with --json: a usage error
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        _fail(type(err).__name__, message, None, getattr(err, "exit_code", 2), as_json)
    except typer.Abort:  # only with --json: a question got no answer
        _fail("Aborted", "aborted", None, 1, as_json)
    except MailerError as err:
        _fail_with(err, as_json)
    except KeyboardInterrupt:
        _fail_with(Interrupted("interrupted"), as_json)
    sys.exit(code if isinstance(code, int) else 0)


def wants_json(args: list[str]) -> bool:
    """--json among the options (not after a `--`, where it would be an argument)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _fail_with(err: MailerError, as_json: bool) -> NoReturn:
    if isinstance(err, OutcomeError):
        _fail(
            err.kind,
            err.message,
            err.hint,
            err.exit_code,
            as_json,
            label=err.label,
            document=err.document,
            reported=err.reported,
        )
    _fail(err.kind, err.message, err.hint, err.exit_code, as_json)


def _fail(
    kind: str,
    message: str,
    hint: str | None,
    exit_code: int,
    as_json: bool,
    *,
    label: str = "error",
    document: dict[str, Any] | None = None,
    reported: bool = False,
) -> NoReturn:
    """The error for people on stderr, and with --json as the JSON document on stdout.

    An outcome error (mailer.errors.OutcomeError) may bring the command's own ``document``,
    which --json prints instead of the error document; ``reported``: the command has shown the
    outcome already, so nothing is added on stderr; ``label`` starts the message there.
    """
    if as_json:
        error = {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}
        print_json(document if document is not None else {"error": error})
    if not reported:
        err_console.print(f"[bold red]{label}:[/bold red] {escape(message)}")
        if hint:
            err_console.print(f"  [yellow]hint:[/yellow] {escape(hint)}")
    sys.exit(exit_code)
