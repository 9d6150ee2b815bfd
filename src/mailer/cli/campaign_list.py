"""`mailer campaigns list`: every campaign at a glance (mailer.app.campaign_list)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import typer

from mailer.cli.common import command
from mailer.words import plural

if TYPE_CHECKING:
    from datetime import datetime, tzinfo

    from mailer.app.campaign_list import CampaignSummary

app = typer.Typer(
    help="The campaigns: what each is, where it stands, when it goes out, what it did.",
    no_args_is_help=True,
)


@command(app, "list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Every campaign: slug, subject, status, who approved it and when, the next slot it would
    take (in schedule.timezone) and, once sent, its figures.

    Status is draft, approved (recorded by `mailer approve`), sending, paused, sent, or
    unreadable (a file that cannot be read: the reason names its line). The next slot assumes
    nothing changes: each slot sends the oldest approval that is due. With --json, a list of
    objects with the same values (times in ISO 8601).

    Example: mailer campaigns list
    """
    from zoneinfo import ZoneInfo

    from rich.markup import escape

    from mailer.app.campaign_list import list_campaigns
    from mailer.cli.common import console, print_json, state
    from mailer.store.models import utcnow

    workspace = state.workspace()
    campaigns = list_campaigns(workspace, state.database(), utcnow())
    if as_json:
        print_json([campaign.as_dict() for campaign in campaigns])
        return
    schedule = workspace.settings.schedule
    zone = ZoneInfo(schedule.timezone)
    say = partial(console.print, soft_wrap=True)  # a slug stays whole on its line, to copy
    for campaign in campaigns:
        say(f"[bold]{escape(campaign.slug)}[/bold]  {campaign.status}")
        if campaign.subject:
            say(f"  {escape(campaign.subject)}")
        if line := _where_it_stands(campaign, zone):
            say(f"  {escape(line)}")
        if campaign.note:
            say(f"  [yellow]{escape(campaign.note)}[/yellow]")
    say(
        f"{plural(len(campaigns), 'campaign')}; times in {escape(schedule.timezone)}, weekly slot "
        f"cron {escape(schedule.cron)}."
    )


def _where_it_stands(campaign: CampaignSummary, zone: tzinfo) -> str:
    parts = []
    if campaign.approved_by and campaign.approved_at:
        parts.append(f"approved by {campaign.approved_by} on {_local(campaign.approved_at, zone)}")
    if campaign.send_on and campaign.recipients is None:
        parts.append(f"send_on {campaign.send_on.isoformat()}")
    if campaign.next_slot:
        parts.append(f"next slot {_local(campaign.next_slot, zone)}")
    if campaign.recipients is not None:
        sent = f"sent {_local(campaign.sent_at, zone)}: " if campaign.sent_at else ""
        parts.append(
            f"{sent}{campaign.sent or 0:,} of {plural(campaign.recipients, 'recipient')}, "
            f"{plural(campaign.clicked or 0, 'person')} clicked"
        )
    return "; ".join(parts)


def _local(moment: datetime, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%a %Y-%m-%d %H:%M}"
