"""`mailer staff ...`: who may sign in to the staff web app (`mailer serve`, /staff).

`add` prints a one-time link (``<web.base_url>/staff/welcome/<token>``, valid 24 hours) where the
person sets their password, unless ``--password-stdin`` gives it; `reset` makes a new link and
stops the old password; `remove` deletes the account and signs it out everywhere at once.
The rules are in mailer.staff; library code loads when a command runs (`mailer --help` stays
quick).
"""

from __future__ import annotations

import enum
import sys
from typing import TYPE_CHECKING

import typer

from mailer.cli.common import command
from mailer.words import plural

if TYPE_CHECKING:
    from mailer.app.staff_accounts import LinkResult

app = typer.Typer(
    help="Staff accounts for the web app (mailer serve, /staff): add, list, remove, reset.",
    no_args_is_help=True,
)


class RoleChoice(enum.StrEnum):
    owner = "owner"
    editor = "editor"


@command(app, "add")
def add_command(
    email: str = typer.Argument(..., help="The address the person signs in with."),
    role: RoleChoice = typer.Option(
        ...,
        "--role",
        case_sensitive=False,
        help="owner: also approves campaigns and manages subscribers and staff; editor: "
        "drafts, edits, previews and sends tests.",
    ),
    name: str = typer.Option("", "--name", help="Their name, as the pages show it."),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="Read the password from standard input (scripts) instead of printing a link; "
        "on a terminal it is asked for, without echo.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Add a staff account and print its one-time set-password link (valid 24 hours).

    Send the link to the person (it signs nobody in by itself: they choose a password there,
    at least 12 characters, not a common one). Exit status 1 when the address has an account
    already or the password is refused.

    Examples:
      mailer staff add maria@yourclinic.example --role owner --name "Maria Lopez"
      printf '%s' "$PW" | mailer staff add desk@yourclinic.example --role editor --password-stdin
    """
    from mailer.app.staff_accounts import add_account, link_key
    from mailer.cli.campaigns import cli_user
    from mailer.cli.common import quiet_for_json, state
    from mailer.staff.accounts import Role

    quiet_for_json(as_json)
    workspace = state.workspace()
    if not password_stdin:
        link_key(workspace)  # no key for the link: refuse before asking for anything
    password = _read_password() if password_stdin else None
    result = add_account(
        workspace,
        state.database(),
        email,
        Role(role.value),
        name=name,
        password=password,
        by=cli_user(),
    )
    _print_link(result, as_json, f"Added {result.email} ({result.role}).")


@command(app, "reset")
def reset_command(
    email: str = typer.Argument(..., help="The address of the account."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Make a new one-time set-password link for an account (valid 24 hours).

    The old password stops working now, the browsers signed in with it are signed out, and an
    earlier link stops working. Exit status 1 when there is no such account.

    Example: mailer staff reset maria@yourclinic.example
    """
    from mailer.app.staff_accounts import reset_account
    from mailer.cli.common import quiet_for_json, state

    quiet_for_json(as_json)
    result = reset_account(state.workspace(), state.database(), email)
    _print_link(result, as_json, f"Reset {result.email}: the old password no longer works.")


@command(app, "remove")
def remove_command(
    email: str = typer.Argument(..., help="The address of the account."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Remove a staff account; every browser signed in with it is signed out at once.

    What they approved keeps their name. Exit status 1 when there is no such account.

    Example: mailer staff remove maria@yourclinic.example
    """
    from rich.markup import escape

    from mailer.app.staff_accounts import remove_account
    from mailer.cli.common import console, print_json, state

    removed = remove_account(state.database(), email)
    address, ended = removed.email, removed.sessions_ended
    if as_json:
        print_json(removed.as_dict())
        return
    console.print(
        f"Removed {escape(address)}; {ended} signed-in browser{'s' if ended != 1 else ''} "
        "signed out."
    )


@command(app, "list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """List the staff accounts: address, name, role, whether the password is set (or until
    when its link is valid), and how many browsers are signed in.

    Example: mailer staff list --json
    """
    from rich.markup import escape
    from rich.table import Column, Table

    from mailer.app.staff_accounts import list_accounts
    from mailer.cli.common import console, print_json, state

    found = list_accounts(state.workspace(), state.database())
    if as_json:
        print_json({"accounts": [account.as_dict() for account in found]})
        return
    if not found:
        console.print(
            "No staff accounts yet. Add one: mailer staff add you@yourclinic.example --role owner"
        )
        return
    table = Table(
        # The address whole, to be copied: the other columns wrap instead.
        Column("email", no_wrap=True, min_width=max(len(a.email) for a in found)),
        Column("name", overflow="fold"),
        "role",
        "password",
        "signed in",
        box=None,
        padding=(0, 2),
    )
    for account in found:
        if account.password_set:
            password = "set"
        elif account.link_valid_until:
            password = f"link until {account.link_valid_until:%Y-%m-%d %H:%M} UTC"
        else:
            password = "link expired: reset"
        table.add_row(
            escape(account.email),
            escape(account.name),
            account.role.value,
            password,
            str(account.sessions),
        )
    console.print(table)


def _read_password() -> str:
    """The password from standard input (one trailing newline dropped), or asked for on a
    terminal, twice, without echo."""
    if sys.stdin.isatty():
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


def _print_link(result: LinkResult, as_json: bool, first_line: str) -> None:
    from rich.markup import escape

    from mailer.cli.common import console, print_json

    if as_json:
        print_json(result.as_dict())
        return
    console.print(escape(first_line))
    if result.sessions_ended:
        console.print(f"{plural(result.sessions_ended, 'signed-in browser')} signed out.")
    if result.link is None:
        console.print("Password set: they can sign in at /staff/login now.")
        return
    until = f"{result.valid_until:%Y-%m-%d %H:%M} UTC" if result.valid_until else "24 hours"
    console.print(f"Send them this link to set their password (works once, until {until}):")
    # Printed plainly, on a line of its own, so that it can be copied whole.
    sys.stdout.write(result.link + "\n")
