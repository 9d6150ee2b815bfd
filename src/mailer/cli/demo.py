"""`mailer demo`: the whole flow on embedded defaults, in a fresh folder, explained as it goes.

Each step runs the real command, as a member of staff would type it, in the demo workspace.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.markup import escape

from mailer.cli.common import console
from mailer.errors import MailerError
from mailer.workspace import init_workspace

ARTICLE_URL = "https://www.summitspine.example/blog/headaches-and-the-upper-neck"


def run_demo(directory: Path) -> None:
    started = time.monotonic()
    directory = directory.resolve()
    if directory.exists():
        if not (directory / "mailer.toml").exists():
            raise MailerError(
                f"{directory} exists and is not a demo workspace; nothing was changed",
                hint="pass --dir with a new folder",
            )
        shutil.rmtree(directory)

    _step(
        "1. A new newsletter workspace",
        "Everything for one newsletter lives in one folder: settings (mailer.toml), campaigns, "
        "templates, the subscriber list and, with the default outbox provider, the emails.",
        f"mailer init {directory.name}",
    )
    workspace = init_workspace(directory)
    console.print(f"  [dim]created {workspace.root}[/dim]")

    _step(
        "2. The subscriber list",
        "Import the sample CSV. Addresses are checked, duplicates merged, and people who "
        "unsubscribed are never made active again. Running it twice changes nothing.",
    )
    _mailer(directory, "subscribers", "import", "subscribers/sample.csv")
    _mailer(directory, "subscribers", "import", "subscribers/sample.csv")

    _step(
        "3. A draft from a blog article",
        "`mailer draft` turns an article (a page export, Markdown, an HTML page or a feed) into "
        "campaigns/<slug>.md: subject, preheader, a teaser and the consultation call to action. "
        "Staff edit that file.",
    )
    draft = _mailer(directory, "draft", "articles/headaches.txt", "--url", ARTICLE_URL)
    slug = Path(draft.strip().splitlines()[-1]).stem

    _step(
        "4. Several articles make a digest",
        "One featured article and short entries for the others.",
    )
    _mailer(
        directory,
        "draft",
        "articles/desk-posture.txt",
        "articles/sleep-position.md",
        "articles/headaches.txt",
    )

    _step(
        "5. Preview and preflight",
        "The preview is exactly what a subscriber gets: HTML, plain text and the whole .eml. "
        "The check stops anything unlawful or broken before it can be sent.",
    )
    _mailer(directory, "preview", slug, "--out", "preview")
    _mailer(directory, "check", slug, allow_failure=True)

    _step("6. Approval", "Only approved campaigns are sent. Approval runs the check first.")
    _mailer(directory, "approve", slug)

    _step(
        "7. Sending",
        "Each subscriber gets the issue exactly once, recorded in the delivery ledger. The "
        "outbox provider writes each message to outbox/<slug>/ instead of sending it.",
    )
    _mailer(directory, "send", slug, "--yes")
    messages = sorted((directory / "outbox" / slug).glob("*.eml"))
    console.print(f"  [dim]{len(messages)} messages in outbox/{slug}/[/dim]")
    _mailer(directory, "send", slug, "--yes")

    _step("8. The report", "What happened to the campaign.")
    _mailer(directory, "report", slug)

    console.print(
        f"\n[bold green]Demo finished in {time.monotonic() - started:.1f} s.[/bold green] "
        f"Look around in {directory}:\n"
        f"  preview/{slug}.html   open it in a browser\n"
        f"  outbox/{slug}/        the messages as subscribers get them\n"
        f"  campaigns/            the campaign files staff edit"
    )


def _step(title: str, explanation: str, command: str | None = None) -> None:
    console.print(f"\n[bold cyan]{escape(title)}[/bold cyan]")
    console.print(f"  {escape(explanation)}")
    if command:
        console.print(f"  [bold]$ {escape(command)}[/bold]")


def _mailer(directory: Path, *args: str, allow_failure: bool = False) -> str:
    """Run one real `mailer` command in the workspace, show what it printed, return stdout."""
    console.print(f"  [bold]$ mailer {escape(' '.join(args))}[/bold]")
    result = subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    for line in (result.stdout + result.stderr).rstrip().splitlines():
        console.print(f"    {escape(line)}")
    if result.returncode != 0 and not (allow_failure and result.returncode == 1):
        raise MailerError(
            f"the demo step `mailer {' '.join(args)}` failed (exit {result.returncode})"
        )
    return result.stdout
