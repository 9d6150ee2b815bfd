"""`mailer demo`. The demo itself (mailer.cli.demo) loads when the command runs: it imports
httpx and the workspace's configuration, about 230 ms that `mailer --help` need not wait for."""

from __future__ import annotations

from pathlib import Path

import typer

from mailer.cli.common import command

app = typer.Typer()


@command(app, "demo")
def demo_command(
    directory: Path = typer.Option(
        Path("demo-workspace"), "--dir", help="Where to build the demo workspace (replaced)."
    ),
) -> None:
    """Run the whole flow on embedded defaults in a fresh folder, explaining each step."""
    from mailer.cli.demo import run_demo

    run_demo(directory)
