"""`mailer scheduler run` and `mailer scheduler status`: the weekly slot."""

from __future__ import annotations

import logging
from typing import Any

import typer
from rich.markup import escape

from mailer.cli.common import command, console, print_json, state
from mailer.errors import Interrupted, SlotFailed
from mailer.words import plural

app = typer.Typer(
    help="The weekly slot: send the approved issue on time, poll the blog feed.",
    no_args_is_help=True,
)


@command(app, "run")
def run_command(
    now: bool = typer.Option(
        False,
        "--now",
        help="Fire one slot at once (the oldest approved campaign that is due), then exit.",
    ),
) -> None:
    """Run the scheduler until stopped (SIGTERM or Ctrl-C stop it cleanly; Ctrl-C exits 130).

    At each slot of schedule.cron (in schedule.timezone) the oldest approved campaign that is
    due goes out; with none approved, the staff addresses get a notice. A second
    `mailer scheduler run` on the same database waits as a standby and takes over within a
    minute if the active one stops. With feed.url set, the feed is polled every
    feed.poll_every and new articles become drafts.

    Example: mailer scheduler run
    """
    workspace = state.workspace()
    sessions = state.database()
    if now:
        _fire_now(workspace, sessions)
        return
    from mailer.schedule.service import SchedulerService

    state.service_logging()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    service = SchedulerService(
        workspace, state.engine(), sessions, say=lambda line: console.print(escape(line))
    )

    from mailer.cli.send import _StopFlag

    stop = _StopFlag(on_stop=service.stop)  # as `mailer send`: a second Ctrl-C aborts at once
    stop.install()
    schedule = workspace.settings.schedule
    console.print(
        f"mailer scheduler: cron {escape(schedule.cron)} in {escape(schedule.timezone)}, "
        f"misfire grace {schedule.misfire_grace}; Ctrl-C stops"
    )
    service.run()
    if stop.interrupted:
        raise Interrupted(reported=True)


def _fire_now(workspace: Any, sessions: Any) -> None:
    from mailer.schedule.slots import SlotHandler
    from mailer.store.leases import process_owner
    from mailer.store.models import SlotOutcome, utcnow

    handler = SlotHandler(workspace, sessions, owner=process_owner())
    report = handler.fire(utcnow().replace(microsecond=0))
    when = handler.when(report.slot_at)
    if report.outcome == SlotOutcome.SENT:
        console.print(
            f"Slot fired {when}: [bold green]sent[/bold green] {escape(report.campaign_slug)} "
            f"({report.sent} messages)."
        )
    elif report.outcome == SlotOutcome.NOTHING_APPROVED:
        console.print(
            f"Slot fired {when}: no approved campaign is due, nothing sent; staff were told."
        )
    else:
        line = f"Slot fired {when}: {report.outcome} {report.campaign_slug} {report.detail}"
        console.print(escape(line))
        raise SlotFailed(line, reported=True)


@command(app, "status")
def status_command(
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """The next slot (local time and UTC), the active scheduler, the approved queue, the feed.

    Example: mailer scheduler status
    """
    from mailer.schedule.status import scheduler_status

    workspace = state.workspace()
    status = scheduler_status(workspace, state.database())
    document = status.as_json()
    if as_json:
        print_json(document)
        return
    schedule = document["schedule"]
    console.print(f"Schedule: cron {escape(schedule['cron'])} in {escape(schedule['timezone'])}")
    nxt = document["next_slot"]
    if nxt:
        console.print(f"Next slot: {nxt['local']} local, {nxt['utc']} UTC")
    stored = document["stored_next_slot"]
    if stored and nxt and stored["utc"] < nxt["utc"]:
        console.print(
            f"  [yellow]A slot at {stored['local']} is overdue:[/yellow] it runs when the "
            "scheduler starts, if within schedule.misfire_grace."
        )
    active = document["active_scheduler"]
    if active and active["live"]:
        console.print(
            f"Active scheduler: {escape(active['host'])} pid {active['pid']} since "
            f"{active['since']}"
        )
    else:
        console.print(
            "Active scheduler: [yellow]none running[/yellow]; start one with "
            "`mailer scheduler run`."
        )
    queue = document["queue"]
    if queue:
        console.print("Approved, waiting for a slot (oldest approval first):")
        for item in queue:
            mark = "next" if item["next"] else "    "
            on = f" (send_on {item['send_on']})" if item["send_on"] else ""
            console.print(f"  {mark} {escape(item['slug'])}{on}: {escape(item['subject'])}")
    else:
        console.print(
            "Approved, waiting: [yellow]none[/yellow]; the next slot sends nothing unless "
            "you approve a campaign (`mailer approve CAMPAIGN`)."
        )
    for slug in document["not_approved"]:
        console.print(
            f"  [yellow]not approved:[/yellow] {escape(slug)} says status: approved, but was "
            f"never approved with `mailer approve {escape(slug)}`; it is not sent."
        )
    for problem in document["problems"]:
        console.print(
            f"  [red]cannot be read, skipped:[/red] {escape(problem['message'])}", soft_wrap=True
        )
    for slot in document["recent_slots"]:
        console.print(
            f"  slot {slot['slot_at']}: {escape(slot['outcome'])} {escape(slot['campaign'])}"
        )
    for step in document["sequences"]:
        when = step["next_due"] or "nobody waiting"
        approved = "" if step["approved"] else " [yellow](not approved)[/yellow]"
        console.print(
            f"Series {escape(step['series'])}, step {escape(step['step'])}{approved}: "
            f"next due {when}"
        )
    feed = document["feed"]
    if feed:
        every = int(feed["poll_every_seconds"] // 60)
        console.print(f"Feed: {escape(feed['url'])} ({feed['mode']}, polled every {every} min)")
        last = feed["last_poll"]
        if not last:
            console.print("  not polled yet (`mailer feed poll` polls it now)")
        else:
            line = f"  last poll {last['polled_at']}: {escape(last['status'])}"
            line += f", {plural(last['found'], 'new article')}"
            if last["detail"]:
                line += f" ({escape(last['detail'])})"
            console.print(line)
            for slug in last["drafts_waiting"]:
                console.print(f"  draft waiting for approval: {escape(slug)}")
