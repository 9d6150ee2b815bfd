"""`mailer preview`, `check`, `approve`: from a drafted campaign to one staff can trust.

Library code loads when a command runs, so `mailer --help` stays quick.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailer.cli.common import command
from mailer.words import plural

if TYPE_CHECKING:
    from mailer.campaigns.campaign import Campaign
    from mailer.campaigns.check import CheckResult
    from mailer.workspace import Workspace

CAMPAIGN_HELP = "The campaign: a file path (campaigns/<slug>.md) or its slug."

app = typer.Typer()


def _load(workspace: Workspace, name: str) -> Campaign:
    from mailer.campaigns.files import CampaignFiles

    return CampaignFiles.of(workspace).load(name, prefix=True)  # typed by a person


@command(app, "preview")
def preview_command(
    campaign_name: str = typer.Argument(..., metavar="CAMPAIGN", help=CAMPAIGN_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder for the files (default: preview/ in the workspace)."
    ),
) -> None:
    """Write the email exactly as a subscriber gets it: OUT/<slug>.html, .txt and .eml.

    The sample subscriber is the first active one on your list, else "Alex Sample". Open the
    .html file in a browser, the .eml file in your mail program. Its links are preview links:
    they act on nobody (the unsubscribe link explains what it would do; a click goes where the
    link leads and is not counted). Without MAILER_SECRET_KEY the links are signed with a public
    development key: fine for looking, never for sending.

    Example: mailer preview 2026-03-10-neck-pain --out preview
    """
    from rich.markup import escape

    from mailer.app.preview import preview_campaign
    from mailer.cli.common import console
    from mailer.cli.common import state as cli_state

    workspace = cli_state.workspace()
    campaign = _load(workspace, campaign_name)
    preview = preview_campaign(workspace, cli_state.database, campaign)
    person = preview.person

    folder = (out or workspace.root / "preview").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        folder / f"{campaign.slug}.html": preview.html.encode("utf-8"),
        folder / f"{campaign.slug}.txt": preview.text.encode("utf-8"),
        folder / f"{campaign.slug}.eml": preview.eml,
    }
    for path, content in files.items():
        path.write_bytes(content)

    who = f"{person.name} <{person.email}>" if person.name else person.email
    console.print(f"Preview of [bold]{escape(campaign.subject or campaign.slug)}[/bold]")
    console.print(
        f"  as {escape(who)} gets it, with preview links that act on nobody", soft_wrap=True
    )
    for path in files:
        console.print(f"  {escape(str(path))}", soft_wrap=True)
    if preview.development_key:
        console.print(
            "  [yellow]note:[/yellow] MAILER_SECRET_KEY is not set, so links are signed with the "
            "development key; set it before sending."
        )
    console.print(f"Next: open the .html file in a browser, then `mailer check {campaign.slug}`.")


@command(app, "check")
def check_command(
    campaign_name: str = typer.Argument(..., metavar="CAMPAIGN", help=CAMPAIGN_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
    spam: bool = typer.Option(
        True, "--spam/--no-spam", help="Score the message with SpamAssassin when installed."
    ),
) -> None:
    """Preflight a campaign: errors that would block sending, and warnings worth a look.

    Errors: no subject, no unsubscribe link, no postal address, no plain-text part, HTML over
    100 KB, an image without alt text, a link that is not a web address, a placeholder left
    unfilled, a template error. Warnings: subject over 60 characters, no preheader, spam
    score over 3, low colour contrast, MAILER_SECRET_KEY unset, web.base_url on this computer
    only. Exit status 1 when any error.

    Example: mailer check 2026-03-10-neck-pain
    """
    from mailer.campaigns.check import CheckResult, Finding, check_campaign
    from mailer.cli.common import print_json
    from mailer.cli.common import state as cli_state
    from mailer.errors import CampaignError, CheckFailed

    workspace = cli_state.workspace()
    try:
        campaign = _load(workspace, campaign_name)
    except CampaignError as err:
        if not as_json:
            raise
        # Scripts reading --json get a document for an unreadable campaign too.
        failed = CheckResult([Finding("error", "campaign-error", err.message, err.hint or "")])
        document = {"campaign": campaign_name, **failed.as_dict()}
        raise CheckFailed(err.message, hint=err.hint, document=document, reported=True) from err
    result = check_campaign(workspace, campaign, spam=spam)
    document = {"campaign": campaign.slug, **result.as_dict()}
    if not as_json:
        _print_findings(result)
        _print_verdict(result, campaign.slug)
    if result.errors:
        raise CheckFailed(
            f"{campaign.slug}: {plural(len(result.errors), 'error')}",
            document=document,
            reported=True,
        )
    if as_json:
        print_json(document)


@dataclass(frozen=True)
class ApproveReport:
    """What `mailer approve --json` prints."""

    campaign: str
    approved: bool
    changed: bool  # false: it was approved already, or the check found errors
    send_on: str | None
    check: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@command(app, "approve")
def approve_command(
    campaign_name: str = typer.Argument(..., metavar="CAMPAIGN", help=CAMPAIGN_HELP),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document and nothing else.")
    ] = False,
) -> None:
    """Mark a campaign ready for its weekly slot (status: approved), after a passing check.

    The approval covers the campaign as it is now: the file, the templates and the settings
    that show in the email, and the audience. Any change afterwards makes it a draft again at
    send time; approve it again then. With any check error nothing changes and the exit status
    is 1; a campaign that was sent cannot be approved again (exit 1). The spam score is not
    computed here; `mailer check` shows it.

    Example: mailer approve 2026-03-10-neck-pain
    """
    from rich.markup import escape

    from mailer.campaigns.approval import approve, refuse_if_sent
    from mailer.campaigns.check import check_campaign
    from mailer.cli.common import console, print_json, quiet_for_json
    from mailer.cli.common import state as cli_state
    from mailer.errors import CheckFailed

    quiet_for_json(as_json)  # the same approval; with --json its text stays off stdout
    workspace = cli_state.workspace()
    campaign = _load(workspace, campaign_name)
    sessions = cli_state.database()
    refuse_if_sent(sessions, campaign)
    approval = None
    result = check_campaign(workspace, campaign, spam=False)

    def report() -> dict[str, Any]:
        send_on = campaign.send_on.isoformat() if campaign.send_on else None
        approved = approval is not None
        changed = approval is not None and approval.new
        check = result.as_dict()
        return ApproveReport(campaign.slug, approved, changed, send_on, check).as_dict()

    _print_findings(result)
    if result.errors:
        console.print(
            "[bold red]Not approved:[/bold red] "
            f"{plural(len(result.errors), 'error')} to fix first; "
            f"{escape(str(campaign.path))} was not changed.",
            soft_wrap=True,
        )
        raise CheckFailed(
            f"{campaign.slug} not approved: {plural(len(result.errors), 'error')} to fix first",
            document=report(),
            reported=True,
        )
    approval = approve(workspace, sessions, campaign, approved_by=cli_user(), check=result)
    if not approval.new:
        console.print(f"{escape(campaign.slug)} was already approved as it is; nothing changed.")
    else:
        console.print(
            f"[bold green]Approved[/bold green] {escape(campaign.slug)} as it is now "
            f"(by {escape(approval.approved_by)}); any change needs a new approval."
        )
    schedule = workspace.settings.schedule
    when = f"on {campaign.send_on.isoformat()}" if campaign.send_on else "in the next weekly slot"
    if campaign.sequence:  # a step never goes at a slot, nor by `mailer send`
        console.print(
            f"Next: it goes to each person of the {escape(campaign.sequence)} series "
            f"{escape(str(campaign.extra.get('after', '')))} after they joined, at a pass of "
            "`mailer scheduler run` (every minute) or `mailer sequences run`; "
            "`mailer sequences list` shows who it is due for now.",
            soft_wrap=True,
        )
    else:
        console.print(
            f"Next: it goes out {when} (cron {escape(schedule.cron)}, "
            f"{escape(schedule.timezone)}) while `mailer scheduler run` is running; "
            "`mailer scheduler status` shows when. "
            f"To send now instead: `mailer send {escape(campaign.slug)}`.",
            soft_wrap=True,
        )
    if as_json:
        print_json(report())


@command(app, "unapprove")
def unapprove_command(
    campaign_name: str = typer.Argument(..., metavar="CAMPAIGN", help=CAMPAIGN_HELP),
) -> None:
    """Take a campaign's approval back: status: draft again, and it is not sent.

    A send that was queued but has sent nothing yet is withdrawn too. A campaign that has begun
    to go out cannot be called back (exit 1).

    Example: mailer unapprove 2026-03-10-neck-pain
    """
    from rich.markup import escape

    from mailer.campaigns.approval import unapprove
    from mailer.cli.common import console
    from mailer.cli.common import state as cli_state

    workspace = cli_state.workspace()
    campaign = _load(workspace, campaign_name)
    if unapprove(workspace, cli_state.database(), campaign, by=cli_user()):
        console.print(f"{escape(campaign.slug)} is a draft again; it will not be sent.")
    else:
        console.print(f"{escape(campaign.slug)} was not approved; nothing changed.")
    console.print(f"When it is ready: `mailer approve {escape(campaign.slug)}`.")


def cli_user() -> str:
    """Who approves from the command line: cli:<the operating system's user name>, the person
    behind `sudo -u mailer` (docs/deploy.md) rather than the service account."""
    import getpass

    from mailer.config import environment_flag

    if sudo_user := environment_flag("SUDO_USER"):
        return f"cli:{sudo_user}"
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "cli:unknown"


def _print_findings(result: CheckResult) -> None:
    from rich.markup import escape

    from mailer.cli.common import console

    for finding in result.findings:
        mark = (
            "[bold red]✗ error  [/bold red]"
            if finding.level == "error"
            else ("[yellow]! warning[/yellow]")
        )
        console.print(
            f"{mark} {escape(finding.message)} [dim]({finding.code})[/dim]", soft_wrap=True
        )
        if finding.hint:
            console.print(f"          [dim]→ {escape(finding.hint)}[/dim]", soft_wrap=True)
    if result.spam_score is not None:
        console.print(f"[dim]SpamAssassin score: {result.spam_score:.1f} (3 or less is good)[/dim]")
    elif result.spam_note:
        console.print(f"[dim]{escape(result.spam_note)}[/dim]")


def _print_verdict(result: CheckResult, slug: str) -> None:
    from mailer.cli.common import console

    errors, warnings = len(result.errors), len(result.warnings)
    if errors:
        console.print(
            f"[bold red]{plural(errors, 'error')}[/bold red], {plural(warnings, 'warning')}: "
            "fix the errors, "
            f"then run `mailer check {slug}` again."
        )
    else:
        console.print(
            f"[bold green]No errors[/bold green], {plural(warnings, 'warning')}. "
            f"Next: `mailer approve {slug}`."
        )
