"""`mailer init DIR`: a new workspace with a working sample configuration and templates."""

from __future__ import annotations

from pathlib import Path

import typer

from mailer.cli.common import command, console

app = typer.Typer()


@command(app, "init")
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

    workspace = init_workspace(directory, force=force, sample_series=True)
    console.print(f"Created a newsletter workspace in [bold]{workspace.root}[/bold]")
    steps = sorted((workspace.campaigns_dir).glob("welcome-*.md"))
    if steps:
        console.print(
            f"A sample welcome series ({len(steps)} steps, drafts) is in campaigns/: "
            "`mailer sequences list`; approve a step to send it to new subscribers."
        )
    console.print(
        "Next: edit mailer.toml (your clinic's name, address and booking page), then\n"
        f"  cd {workspace.root}\n"
        "  mailer subscribers import subscribers/sample.csv\n"
        "  mailer draft path/to/article.txt"
    )
