"""The `mailer` command line. Commands are thin: they wire the workspace to the library code."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from mailer.cli import campaigns, db, draft, feed, scheduler, send, serve, subscribers
from mailer.cli.common import console, err_console, state
from mailer.errors import MailerError

app = typer.Typer(
    name="mailer",
    help=(
        "Turn your blog articles into a weekly email newsletter, and send it lawfully.\n\n"
        "Run commands inside your newsletter folder (the one with mailer.toml), or pass "
        "--workspace DIR. Start with `mailer init my-newsletter` or `mailer demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help="The newsletter folder (default: $MAILER_WORKSPACE, else the current folder).",
        file_okay=False,
    ),
) -> None:
    state.choose(workspace)


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

    Typer handles usage errors itself (exit 2); MailerError carries its own exit status.
    """
    try:
        app()
    except MailerError as err:
        err_console.print(f"[bold red]error:[/bold red] {escape(err.message)}")
        if err.hint:
            err_console.print(f"  [yellow]hint:[/yellow] {escape(err.hint)}")
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
