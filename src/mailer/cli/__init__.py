"""The `mailer` command line. Commands are thin: they wire the workspace to the library code.

Conventions every command keeps (README, "Exit status"): 0 done; 1 the work failed or was
refused; 2 a usage or configuration error; 130 interrupted. With --json, a command prints one
JSON document on stdout, errors included (``{"error": {...}}``). Logs go to stderr (see
mailer.logs), never to stdout.
"""

from __future__ import annotations

import enum
import sys
from importlib import metadata
from pathlib import Path

import typer
from rich.markup import escape

from mailer.cli import campaigns, db, draft, feed, scheduler, send, serve, subscribers
from mailer.cli.common import console, err_console, print_json, state
from mailer.errors import MailerError

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


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mailer {metadata.version('mailer')}")
        raise typer.Exit()


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


@app.command("init")
def init_command(
    directory: Path = typer.Argument(..., help="Folder for the new newsletter workspace."),
    force: bool = typer.Option(
        False, "--force", help="Add missing files to an existing workspace."
    ),
) -> None:
    """Create a new workspace with a working sample configuration, templates and list.

    Example: mailer init ~/clinic-newsletter
    """
    from mailer.workspace import init_workspace

    workspace = init_workspace(directory, force=force)
    console.print(f"Created a newsletter workspace in [bold]{workspace.root}[/bold]")
    console.print(
        "Next: edit mailer.toml (your clinic's name, address and booking page), then\n"
        f"  cd {workspace.root}\n"
        "  mailer subscribers import subscribers/sample.csv\n"
        "  mailer draft path/to/article.txt"
    )


@app.command("demo")
def demo_command(
    directory: Path = typer.Option(
        Path("demo-workspace"), "--dir", help="Where to build the demo workspace (replaced)."
    ),
) -> None:
    """Run the whole flow on embedded defaults in a fresh folder, explaining each step."""
    from mailer.cli.demo import run_demo

    run_demo(directory)


app.add_typer(subscribers.app, name="subscribers")
app.add_typer(feed.app, name="feed")
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(db.app, name="db")
draft.register(app)
campaigns.register(app)
send.register(app)
serve.register(app)


def main() -> None:
    """Entry point: user mistakes become one clear message and an exit status, never a traceback.

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
        _fail(err.kind, err.message, err.hint, err.exit_code, as_json)
    except KeyboardInterrupt:
        _fail("Interrupted", "interrupted", None, 130, as_json)
    sys.exit(code if isinstance(code, int) else 0)


def wants_json(args: list[str]) -> bool:
    """--json among the options (not after a `--`, where it would be an argument)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _fail(kind: str, message: str, hint: str | None, exit_code: int, as_json: bool) -> None:
    """The error for people on stderr, and with --json as the JSON document on stdout."""
    if as_json:
        error = {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}
        print_json({"error": error})
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}")
    if hint:
        err_console.print(f"  [yellow]hint:[/yellow] {escape(hint)}")
    sys.exit(exit_code)
