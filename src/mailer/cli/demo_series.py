"""`mailer demo`'s welcome series part (issue 16): step 0 of the sample series going out.

`mailer init` drafted a three-step welcome series; the demo approves step 0 (a real `mailer
approve`), then signs a new person up on the running `mailer serve` and confirms, over HTTP as
their browser would. The confirmation itself runs a pass of the series (the scheduler would
within a minute), so step 0 is the welcome email they get, once. Over HTTP rather than
`mailer subscribers add` + `mailer sequences run`: two fewer processes (several seconds each
on a loaded machine) and the path a real subscriber takes.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import httpx
from rich.markup import escape

from mailer.cli.common import console
from mailer.errors import MailerError

STEP_0 = "welcome-0-hello"
NEWCOMER = "new.patient@example.com"
MAIL_TIMEOUT = 30.0  # the server's background task writes the emails; seconds on a busy machine
_CONFIRM = re.compile(r"https?://\S+/confirm/[A-Za-z0-9._~-]+")

Step = Callable[[str, str], None]
Run = Callable[..., str]


def welcome_series(directory: Path, base_url: str, step: Step, run: Run) -> None:
    step(
        "12. The welcome series",
        "`mailer init` also drafted a three-step welcome series in campaigns/ (sequence: "
        "welcome, after: 0s, 3d, 1w): new subscribers get the clinic's best articles in order, "
        "each on their own clock. The demo approves step 0, then a new person signs up on the "
        "web form and confirms: step 0 is the welcome email they get, at once and once. (The "
        "demo allows any hour; a clinic's steps go out between [sequences] send_between.)",
    )
    run("approve", STEP_0)
    outbox = directory / "outbox"
    with httpx.Client(base_url=base_url, timeout=10.0, follow_redirects=False) as client:
        form = {"email": NEWCOMER, "first_name": "Alex", "consent": "yes", "homepage": ""}
        console.print(f"  [bold]POST {escape(base_url)}/subscribe[/bold]  email={NEWCOMER}")
        answer = client.post("/subscribe", data=form)
        console.print(f"    {answer.status_code} {escape(answer.reason_phrase)}")
        confirmation = _wait_for_mail(outbox / "signup-confirm")
        link = _CONFIRM.search(_text(confirmation))
        if answer.status_code != 200 or link is None:
            raise MailerError("the demo signup got no confirmation email with a link")
        console.print(f"  [bold]POST {escape(link[0])}[/bold]  (the 'Confirm' button)")
        confirmed = client.post(link[0].removeprefix(base_url))
        console.print(f"    {confirmed.status_code} {escape(confirmed.reason_phrase)}")
    welcomed = _wait_for_mail(outbox / STEP_0)
    said = f"outbox/{STEP_0}/: to {welcomed['To']}: {welcomed['Subject']}"
    console.print(f"  [dim]{escape(said)}[/dim]")
    if not (outbox / "welcome").exists():
        console.print("  [dim]and no second welcome: the built-in one was not sent[/dim]")


def _wait_for_mail(folder: Path) -> EmailMessage:
    deadline = time.monotonic() + MAIL_TIMEOUT
    while True:
        found = sorted(folder.glob("*.eml")) if folder.is_dir() else []
        if found:
            message = email.message_from_bytes(found[0].read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            return message
        if time.monotonic() > deadline:
            raise MailerError(
                f"the demo found no email in {folder} after {MAIL_TIMEOUT:.0f} s",
                hint="see serve.log in the demo folder",
            )
        time.sleep(0.1)


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""
