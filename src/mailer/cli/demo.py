"""`mailer demo`: the whole flow on embedded defaults, in a fresh folder, explained as it goes."""

from __future__ import annotations

import shutil
from pathlib import Path

from mailer.cli.common import console
from mailer.workspace import init_workspace


def step(title: str, explanation: str) -> None:
    console.print(f"\n[bold cyan]▶ {title}[/bold cyan]")
    console.print(f"  {explanation}")


def run_demo(directory: Path) -> None:
    directory = directory.resolve()
    if directory.exists():
        shutil.rmtree(directory)
    step("A new workspace", f"`mailer init {directory.name}` makes a newsletter folder.")
    workspace = init_workspace(directory)
    console.print(f"  created {workspace.root}")
