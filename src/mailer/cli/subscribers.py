"""`mailer subscribers ...`: the list of people we may write to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

from mailer.cli.common import command, console, print_json, state
from mailer.words import plural

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from mailer.subscribers.csv_import import ImportReport

app = typer.Typer(
    help="Manage the subscriber list: import, add, unsubscribe, resubscribe, delete, list, export.",
    no_args_is_help=True,
)

TYPOS_SHOWN = 20  # likely mistyped addresses listed as text (--json has them all)

# Files at least this big get a progress bar on a terminal.
PROGRESS_FROM_BYTES = 2_000_000


def print_import_report(report: ImportReport) -> None:
    """The import summary as staff read it (also used by `mailer demo`)."""
    verb = "Would import" if report.dry_run else "Imported"
    console.print(f"{verb} [bold]{escape(str(report.path))}[/bold]: {plural(report.rows, 'row')}")
    table = Table(show_header=False, box=None, padding=(0, 2))
    for label, value in (
        ("imported", report.imported),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("rejected", report.rejected),
        ("kept suppressed", report.kept_suppressed),
        ("suppressed by this file", report.suppressed_by_file),
    ):
        table.add_row(f"  {label}", f"{value:,}")
    console.print(table)
    for reject in report.sample_rejects[:5]:
        console.print(f"  line {reject.line}: {escape(reject.reason)}")
    if report.rejected > 5:
        console.print(f"  ... and {plural(report.rejected - 5, 'more rejected row')}")
    if report.typo_warnings:
        console.print(
            f"[yellow]{plural(len(report.typo_warnings), 'address', 'addresses')} may be "
            "mistyped; imported as they are:[/yellow]"
        )
        for warning in report.typo_warnings[:TYPOS_SHOWN]:
            console.print(
                f"  line {warning.line}: {escape(warning.address)}: "
                f"did you mean {escape(warning.suggestion)}?"
            )
        if len(report.typo_warnings) > TYPOS_SHOWN:
            more = len(report.typo_warnings) - TYPOS_SHOWN
            console.print(f"  ... and {more:,} more (all of them with --json)")
    if report.rejects_path is not None:
        console.print(f"Rejected rows, with line and reason: {escape(str(report.rejects_path))}")
    if report.kept_suppressed:
        console.print(
            "Kept suppressed: people who unsubscribed, bounced, complained or were deleted "
            "stay off the mailing list."
        )
    if report.suppressed_by_file:
        console.print(
            "Suppressed by this file: rows it marks unsubscribed, bounced or complained (a "
            "Status column, or a Mailchimp unsubscribed or cleaned export) are off the "
            "mailing list now, and are never made active again by an import."
        )
    if report.dry_run:
        console.print("Dry run: nothing was written.")


@command(app, "import")
def import_command(
    csv_file: Path = typer.Argument(..., metavar="CSV", help="The CSV file (UTF-8) to import."),
    tag: list[str] = typer.Option(
        [], "--tag", "-t", help="Add this tag to every imported row (repeatable)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would happen; write nothing."
    ),
    welcome: bool = typer.Option(
        False,
        "--welcome",
        help="The people this import adds enter the welcome series (by default they do not).",
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document and nothing else.")
    ] = False,
) -> None:
    """Add or update subscribers from a CSV file, with a per-row report.

    Recognized columns: Email (or E-mail, Email Address), First Name, Last Name, Name, Tags,
    Status; any other column is kept as an attribute. Rejected rows go to <name>.rejects.csv
    beside the file. Unsubscribed, bounced, complained and deleted people are never made active
    again. Mailchimp exports import as they are: the unsubscribed and cleaned exports (their
    UNSUB_TIME or CLEAN_TIME column) take those people off the list. Running the same file
    twice changes nothing.

    Example: mailer subscribers import subscribers/sample.csv --tag patients
    """
    from datetime import UTC, datetime

    from mailer.app.sequences import enrol_imported
    from mailer.subscribers.csv_import import import_csv

    workspace = state.workspace()
    sessions = state.database()
    progress: Progress | None = None
    task: TaskID | None = None

    def on_chunk(report: ImportReport, lines: int) -> None:
        nonlocal progress, task
        if progress is None:
            from rich.progress import Progress

            progress = Progress(console=console, transient=True)
            progress.start()
            task = progress.add_task("importing", total=report.total_lines or None)
        assert task is not None
        progress.update(task, completed=lines)

    show_progress = (
        not as_json
        and console.is_terminal
        and csv_file.is_file()
        and csv_file.stat().st_size >= PROGRESS_FROM_BYTES
    )
    started = datetime.now(UTC)
    try:
        report = import_csv(
            sessions,
            csv_file,
            tags=tag,
            dry_run=dry_run,
            rejects_dir=workspace.subscribers_dir,
            on_chunk=on_chunk if show_progress else None,
            one_transaction=None,  # a large file into an empty list: one transaction
        )
    finally:
        if progress is not None:
            progress.stop()
    welcomed = enrol_imported(sessions, started) if welcome and not dry_run else 0
    if as_json:
        rejects = [{"line": r.line, "reason": r.reason} for r in report.sample_rejects]
        print_json({**report.as_dict(), "sample_rejects": rejects, "welcomed": welcomed})
        return
    print_import_report(report)
    if welcome and not dry_run:
        console.print(f"{welcomed} new subscriber(s) entered the welcome series.")


@command(app, "add")
def add_command(
    email: str = typer.Argument(..., help="The address to add."),
    first_name: str = typer.Option("", "--first-name", help="First name."),
    last_name: str = typer.Option("", "--last-name", help="Last name."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="A tag (repeatable)."),
) -> None:
    """Add one subscriber by hand (consent source: manual).

    Example: mailer subscribers add jane@example.com --first-name Jane --tag patients
    """
    from mailer.app.subscriber_list import add

    added = add(state.database(), email, first_name=first_name, last_name=last_name, tags=tag)
    console.print(f"Added {escape(added.email)} ({added.status})")


@command(app, "unsubscribe")
def unsubscribe_command(email: str = typer.Argument(..., help="The address.")) -> None:
    """Mark a subscriber unsubscribed: they get no more newsletters (kept in the history)."""
    from mailer.app.subscriber_list import unsubscribe_by_staff

    change = unsubscribe_by_staff(state.database(), email)
    if change.changed:
        console.print(f"{escape(change.email)} is now unsubscribed")
    else:
        console.print(f"{escape(change.email)} was already unsubscribed")


@command(app, "resubscribe")
def resubscribe_command(
    email: str = typer.Argument(..., help="The address."),
    consent: str = typer.Option(
        ...,
        "--consent",
        help="How and when the person asked to get the newsletter again (kept as their consent).",
    ),
) -> None:
    """Make an unsubscribed, bounced or complained subscriber active again, with new consent.

    Only staff can bring back an address that marked the newsletter as spam: the signup form
    never does. Record the person's request in their words, e.g. where and when they asked.

    Example: mailer subscribers resubscribe jane@example.com --consent "asked by phone 2026-05-04"
    """
    from mailer.app.subscriber_list import resubscribe_by_staff
    from mailer.errors import UsageError

    text = " ".join(consent.split())
    if not text:
        raise UsageError(
            "--consent is empty",
            hint='say how the person asked to come back, e.g. --consent "asked by phone today"',
        )
    change = resubscribe_by_staff(state.database(), email, text)
    if change.changed:
        console.print(f"{escape(change.email)} is active again (was {change.before})")
    else:
        console.print(f"{escape(change.email)} was already active; nothing changed")


@command(app, "delete")
def delete_command(email: str = typer.Argument(..., help="The address.")) -> None:
    """Erase a person's data; only a hash of the address is kept so it is never mailed again."""
    from mailer.app.subscriber_list import erase

    address, existed = erase(state.database(), email)
    if existed:
        console.print(
            f"Deleted {escape(address)}; only a hash remains, so it is never mailed "
            "or imported again"
        )
    else:
        console.print(
            f"{escape(address)} was not on the list; its hash is now kept so it is "
            "never mailed or imported"
        )


@command(app, "list")
def list_command(
    status: str | None = typer.Option(
        None,
        "--status",
        help="Only this status: pending, active, unsubscribed, bounced, complained.",
    ),
    tag: str | None = typer.Option(None, "--tag", "-t", help="Only subscribers with this tag."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Show subscribers (a table, or JSON with --json).

    Example: mailer subscribers list --status active --tag patients
    """
    from mailer.app.subscriber_list import list_subscribers

    records = list_subscribers(state.database(), status=status, tag=tag, limit=limit)
    if as_json:
        print_json(records)
        return
    table = Table("Name", "Status", "Tags", "Added")
    table.columns.insert(0, Column("Email", overflow="fold", ratio=None))
    for record in records:
        name = f"{record['first_name']} {record['last_name']}".strip()
        table.add_row(
            escape(record["email"]),
            escape(name),
            record["status"],
            escape(", ".join(record["tags"])),
            record["created_at"][:10],
        )
    console.print(table)
    console.print(plural(len(records), "subscriber"))


@command(app, "export")
def export_command(
    csv_file: Path = typer.Argument(..., metavar="CSV", help="The CSV file to write."),
) -> None:
    """Write every subscriber (fields, tags, attributes) to a CSV, safe for spreadsheets.

    Example: mailer subscribers export list.csv
    """
    from mailer.subscribers.csv_export import export_csv

    count = export_csv(state.database(), csv_file)
    console.print(f"Exported {plural(count, 'subscriber')} to {escape(str(csv_file))}")
