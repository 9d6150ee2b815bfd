"""`mailer sequences list|status|run|enroll`: automated series such as the welcome series."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mailer.cli.common import command, console, print_json, state
from mailer.errors import UsageError

app = typer.Typer(
    help="Automated series (the welcome series): steps sent on each person's own clock.",
    no_args_is_help=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document and nothing else.")
]


@command(app, "list")
def list_command(as_json: JsonOption = False) -> None:
    """Every series: its steps in order (when each is due after joining, approved or not),
    the people enrolled, and per step the people it is due for now (a pass would send it to
    them; for a step not approved, the people waiting for its approval), sent and waiting
    (queued in the ledger).

    A step is a campaign file with `sequence: welcome` and `after: 3d` in its front matter.

    Example: mailer sequences list
    """
    # Lazy (as in every command here): `mailer --help` must not load the send path.
    from mailer.app.sequence_figures import sequences_report

    report = sequences_report(state.workspace(), state.database())
    if as_json:
        print_json(report.as_dict())
        return
    if not report.series:
        console.print(
            "No series yet. A step is a campaign file with `sequence: welcome` and "
            "`after: 0s` (or 90m, 2d, 1w) in its front matter."
        )
        return
    columns = ("after", "step", "approved", "due now", "sent", "waiting", "failed", "skipped")
    for series in report.series:
        table = Table(
            title=f"{series.name}: {series.enrolled} enrolled, {series.left} left "
            f"(catch-up {report.catch_up}, min gap {report.min_gap})"
        )
        for column in columns:
            table.add_column(column)
        for step in series.steps:
            table.add_row(
                escape(step.after),
                escape(step.slug),
                "yes" if step.approved else "[yellow]no[/yellow]",
                str(step.due_now),
                str(step.sent),
                str(step.queued),
                str(step.failed),
                str(step.skipped),
            )
        console.print(table)
    if not report.sending_window_open:
        console.print(
            "Outside the sending window ([sequences] send_between): the steps due now wait for it."
        )


@command(app, "status")
def status_command(as_json: JsonOption = False) -> None:
    """The same as `mailer sequences list`.

    Example: mailer sequences status --json
    """
    list_command(as_json)


@command(app, "run")
def run_command(as_json: JsonOption = False) -> None:
    """One pass: each step due now goes to the people it is due for, once, in order, then
    exits. The scheduler (`mailer scheduler run`) does this every minute; this is for cron
    and tests.

    Example: mailer sequences run
    """
    from mailer.app.sequences import run_pass

    report = run_pass(state.workspace(), state.database())
    if as_json:
        print_json(report.as_dict())
        return
    if report.quiet:
        console.print(
            "Outside the sending window ([sequences] send_between): nothing sent; due steps "
            "wait for it."
        )
        return
    for name, steps in report.series.items():
        for step in steps:
            line = f"{name} / {step.slug} (after {step.after}): "
            if not step.approved:
                line += "not approved, skipped"
            else:
                line += f"{step.sent} sent, {step.queued} newly due"
            if step.paused:
                line += f"; paused: {step.paused}"
            console.print(escape(line))
    console.print(f"{report.sent} step email(s) sent.")


@command(app, "enroll")
def enroll_command(
    series: str = typer.Argument(..., help="The series, e.g. welcome."),
    existing: bool = typer.Option(
        False, "--existing", help="Enrol the people already on the list (active ones)."
    ),
    tag: str | None = typer.Option(None, "--tag", "-t", help="Only people with this tag."),
    as_json: JsonOption = False,
) -> None:
    """Enrol people already on the list in a series, from now on (new subscribers enter the
    welcome series by themselves). Nobody enters a series twice.

    Example: mailer sequences enroll welcome --existing --tag patients
    """
    from mailer.app.sequences import enrol_existing
    from mailer.campaigns.campaign import SERIES_NAME

    if not SERIES_NAME.match(series):
        raise UsageError(
            f"{series!r} is not a series name",
            hint="the name after sequence: in the steps' front matter, e.g. welcome",
        )
    if not existing:
        raise UsageError(
            "say whom to enrol: --existing (the people on the list now)",
            hint=f"mailer sequences enroll {series} --existing [--tag T]",
        )
    count = enrol_existing(state.database(), series, tag)
    if as_json:
        print_json({"series": series, "enrolled": count, "tag": tag})
        return
    console.print(f"{count} subscriber(s) entered the {escape(series)} series.")
