"""`mailer feed poll`: check the blog's feed now; new articles become drafts.

`mailer scheduler run` polls on its own every feed.poll_every; this command is for trying the
feed's address and for drafting at once. Library code loads when the command runs.
"""

from __future__ import annotations

import typer

from mailer.cli.common import command
from mailer.words import plural

app = typer.Typer(
    help="The blog's feed (feed.url in mailer.toml): new articles become draft newsletters.",
    no_args_is_help=True,
)


@command(app, "poll")
def poll_command(
    backfill: int = typer.Option(
        0,
        "--backfill",
        min=0,
        max=20,
        metavar="N",
        help="Also draft the newest N articles already in the feed that were never drafted "
        "(the first poll only notes the articles already there).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Check the blog's feed once now and draft what is new.

    The first poll notes the articles already in the feed and drafts none of them; each article
    published after that becomes a draft (feed.mode = single) or joins the waiting digest
    (digest). Staff get an email when a draft waits. Nothing is sent until it is approved,
    unless feed.auto_approve is true and `mailer check` finds no errors. Exit status 1 when the
    feed cannot be fetched or read.

    Examples:
      mailer feed poll
      mailer feed poll --backfill 1
    """
    from rich.markup import escape

    from mailer.app.mailing import notify_staff
    from mailer.campaigns.files import CampaignFiles
    from mailer.cli.common import console, print_json, state
    from mailer.errors import ConfigError, PollFailed
    from mailer.feed.poll import poll_feed

    workspace = state.workspace()
    if not workspace.settings.feed.url:
        raise ConfigError(
            f"{workspace.config_path}: feed.url is empty, so there is no feed to poll",
            hint='set url = "https://www.yourclinic.example/blog/rss.xml" under [feed] in '
            "mailer.toml (or the variable MAILER_FEED__URL) to your blog's RSS or Atom feed",
        )
    result = poll_feed(workspace, state.database(), notify=notify_staff, backfill=backfill)
    if result.status == "error":
        raise PollFailed(
            result.error, hint=result.hint or None, document=result.as_dict(), reported=as_json
        )
    if as_json:
        print_json(result.as_dict())
        return
    say = console.print
    say(f"Feed [bold]{escape(result.url)}[/bold]")
    if result.status == "busy":
        say("Another poll of this feed is running right now; it does the work. Nothing done.")
        return
    if result.status == "not-modified":
        say("Unchanged since the last poll: nothing new.")
        return
    if result.baseline or (not result.drafted and not result.found):
        say(escape(result.detail))
    if result.found:
        say(f"{plural(result.found, 'new article')}.")
    files = CampaignFiles.of(workspace)
    for slug in result.drafted:
        path = files.path(slug)
        if slug in result.approved:
            say(f"  approved (feed.auto_approve): {escape(str(path))}")
        else:
            say(f"  draft waiting: {escape(str(path))}")
            say(f"    preview: mailer preview {slug} --out preview/")
            say(f"    approve: mailer approve {slug}")
    if result.drafted and workspace.settings.organization.staff_emails:
        say("Staff were emailed about it.")
