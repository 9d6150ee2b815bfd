"""`mailer report`: a campaign's figures, every campaign's at a glance, or those sent lately.

The figures are mailer.delivery.report's (one campaign) and mailer.app.campaign_list's (all);
this module finds the campaign a person named and presents them.
"""

from __future__ import annotations

import re
from datetime import timedelta

import typer
from rich.markup import escape

from mailer.cli.common import command, console, print_json, state
from mailer.errors import UsageError
from mailer.words import plural

app = typer.Typer()


@command(app, "report")
def report_command(
    campaign: str = typer.Argument(
        None,
        metavar="CAMPAIGN",
        help="The campaign file's path, its slug or the slug's beginning (none: every "
        "campaign's figures; or give --since instead).",
    ),
    since: str = typer.Option(
        None,
        "--since",
        metavar="DURATION",
        help='Every campaign sent in this past span, with its bookings: "90d", "12w", "48h".',
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """The campaign's figures: recipients, sent, failed, clicks, unsubscribes, bookings, and
    (with SendGrid's webhook) deliveries, opens, bounces and spam reports; with the outbox or
    SMTP those say "not available with this provider" (null in --json).

    Bookings come from the booking tool's webhook (docs/bookings.md): current bookings
    (cancellations subtracted), by button place and by article, and per recipient and per
    clicker. `mailer report --since 90d` lists the campaigns sent in the last 90 days with
    their bookings; `mailer report` alone lists every campaign with its figures. Examples:

      mailer report
      mailer report 2026-11-24-neck
      mailer report --since 90d
    """
    from mailer.delivery.report import campaign_report, table_rows

    if since is not None:
        if campaign is not None:
            raise UsageError(
                "give a campaign or --since, not both",
                hint="`mailer report SLUG` for one campaign, `mailer report --since 90d` for all",
            )
        _report_since(since, as_json)
        return
    if campaign is None:
        _report_all(as_json)
        return
    slug = _reported_slug(campaign)
    workspace = state.workspace()
    provider = workspace.settings.delivery.provider
    figures = campaign_report(
        state.database(), slug, provider, workspace.secrets.bookings_connected
    )
    if figures is None:
        raise UsageError(
            f"{slug!r} has not been sent yet", hint=f"send it with `mailer send {slug}`"
        )
    if as_json:
        print_json(figures.as_dict())
        return
    from rich.table import Table

    table = Table(title=f"Report: {slug}", show_header=False)
    for label, value in table_rows(figures):
        table.add_row(escape(label), escape(value))
    console.print(table)


def _reported_slug(name: str) -> str:
    """The slug CAMPAIGN names for a report: a sent campaign's (its file may be gone since),
    else a campaign file's (a unique prefix too); CampaignNotFoundError, with the nearest
    slugs, when it names neither, rather than "not sent yet" for a typo."""
    from mailer.campaigns.files import CampaignFiles
    from mailer.delivery.ledger import Ledger
    from mailer.delivery.report import run_figures
    from mailer.errors import CampaignNotFoundError

    slug = CampaignFiles.slug_of(name)
    if Ledger(state.database()).find_run(slug) is not None:
        return slug
    try:
        return CampaignFiles.of(state.workspace()).resolve(name, prefix=True).stem
    except CampaignNotFoundError:
        started = [s for s in run_figures(state.database()) if s.startswith(slug)]
        if len(started) == 1:  # a sent campaign whose file is gone, named by a prefix
            return started[0]
        raise


def _report_all(as_json: bool) -> None:
    """`mailer report` alone: every campaign with its figures (as `mailer campaigns list`)."""
    from mailer.app.campaign_list import list_campaigns
    from mailer.store.models import utcnow

    campaigns = list_campaigns(state.workspace(), state.database(), utcnow())
    if as_json:
        print_json({"campaigns": [summary.as_dict() for summary in campaigns]})
        return
    if not campaigns:
        console.print("No campaigns yet: draft one with `mailer draft ARTICLE`.")
        return
    for summary in campaigns:  # one line each: a long slug stays whole, ready to copy
        if summary.recipients is None:
            figures = "not sent yet"
        else:
            when = f"sent {summary.sent_at:%Y-%m-%d}: " if summary.sent_at else ""
            figures = (
                f"{when}{summary.sent or 0:,} of {plural(summary.recipients, 'recipient')}, "
                f"{plural(summary.clicked or 0, 'person', 'people')} clicked"
            )
        console.print(f"  {escape(summary.slug)}  {summary.status}: {escape(figures)}")
    console.print(
        f"{plural(len(campaigns), 'campaign')}; one in detail: `mailer report SLUG` "
        "(the beginning of a slug is enough)."
    )


_SPAN = {"h": 3600, "d": 86400, "w": 7 * 86400}


def _report_since(since: str, as_json: bool) -> None:
    """`mailer report --since DURATION`: campaigns sent since, with their bookings."""
    from mailer.bookings.report import bookings_since_in
    from mailer.store.models import utcnow

    match = re.fullmatch(r"\s*(\d{1,6})\s*([hdw])\s*", since)
    if not match:
        raise UsageError(
            f"--since {since!r} is not a span of time",
            hint='a number and h, d or w: "90d" (90 days), "12w", "48h"',
        )
    start = utcnow() - timedelta(seconds=int(match[1]) * _SPAN[match[2]])
    workspace = state.workspace()
    found = bookings_since_in(state.database(), start, workspace.secrets.bookings_connected)
    if as_json:
        print_json(found.as_dict())
        return
    console.print(f"Campaigns sent since {start:%Y-%m-%d %H:%M} UTC, newest first:")
    for row in found.campaigns:  # one line each: a long slug stays whole, ready to copy
        per = row.booking_rate_per_recipient
        booked = f"{row.bookings:,}" if found.connected or row.bookings else "-"
        console.print(
            f"  {row.sent_at:%Y-%m-%d}  {escape(row.campaign)}: {booked} "
            + ("booking" if row.bookings == 1 else "bookings")  # "-" when not connected
            + (f" ({per:.2%} of {plural(row.recipients, 'recipient')})" if per is not None else "")
            + (f", {row.cancellations:,} canceled" if row.cancellations else "")
        )
    if not found.campaigns:
        console.print("No campaign was sent in that span.")
    elif not found.connected:
        console.print("No booking webhook is connected: see docs/bookings.md.")
