"""`mailer send`, `mailer worker`: delivery through the ledger (`mailer report`: cli/report.py).

`mailer send` does one of five jobs, each a small function here: test copies (--test-to), a dry
run (--dry-run), nothing for a finished campaign, queueing for workers (--enqueue), or sending
now (a new send or a resumed one). What it decides is mailer.app.sending's (SendJob.plan); this
module asks, shows progress and reports.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from mailer.cli.common import command, console, err_console, print_json, quiet_for_json, state
from mailer.errors import CampaignError, Interrupted, SendDeclined, SendPaused, UsageError
from mailer.words import plural

if TYPE_CHECKING:
    from mailer.app.sending import SendJob, SendPlan
    from mailer.delivery.engine import SendOutcome

log = logging.getLogger("mailer.cli.send")

app = typer.Typer()


class _StopFlag:
    """SIGTERM and Ctrl-C (SIGINT) alike stop a send after the message or request in flight:
    it finishes and is recorded, and the campaign stays resumable. A second Ctrl-C aborts at
    once (exit 130), as a crash would: what was in flight may then go out again on resume, and
    is counted as a possible duplicate. ``on_stop`` is called at the first signal."""

    def __init__(self, on_stop: Callable[[], None] | None = None) -> None:
        self.stopped = False
        self.interrupted = False  # by Ctrl-C: the command exits 130, as is conventional
        self.on_stop = on_stop

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            if self.interrupted:
                _say(
                    "aborted at once: what was in flight may go out again on resume "
                    "(counted as possible duplicates)"
                )
                os._exit(130)
            self.interrupted = True
            _say("stopping after the message or request in flight; Ctrl-C again aborts at once")
        if not self.stopped:
            self.stopped = True
            if self.on_stop is not None:
                self.on_stop()

    def __call__(self) -> bool:
        return self.stopped


def _say(message: str) -> None:
    """One line to stderr from a signal handler, importing and locking nothing. Rich's first
    print imports its emoji table: a second Ctrl-C that came inside that import ran the handler
    again, found the module half made and ended in an ImportError traceback, exit 1 instead of
    130 (seen at load 5-7, the second signal 10 ms after the first)."""
    line = (message + "\n").encode("utf-8", "replace")
    try:
        os.write(sys.stderr.fileno(), line)
    except (AttributeError, OSError, ValueError):  # a captured stream without a descriptor
        sys.stderr.write(line.decode("utf-8"))


@command(app, "send")
def send_command(
    campaign: str = typer.Argument(..., help="The campaign file's path or its slug."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the audience and render; send nothing."
    ),
    test_to: list[str] = typer.Option(
        [],
        "--test-to",
        help="Send a [TEST] copy to this address (repeatable); not recorded as a delivery.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    enqueue: bool = typer.Option(
        False,
        "--enqueue",
        help="Fix the audience and leave the sending to `mailer worker` processes.",
    ),
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON document and nothing else (asks nothing)."),
    ] = False,
) -> None:
    """Send an approved campaign now, or resume one that stopped.

    Only a campaign approved as it stands goes out: one changed since `mailer approve` (its
    file, a template, a setting shown in the email) is refused with exit status 1 and is a
    draft again. A resumed send sends what it started with. A campaign that finished sends
    nothing again. On a terminal it asks first; from a script or cron, add --yes (without a
    terminal and without --yes it refuses, exit 2). Examples:

      mailer send 2026-11-24-neck-and-headaches --dry-run
      mailer send 2026-11-24-neck-and-headaches --test-to me@clinic.example
      mailer send 2026-11-24-neck-and-headaches --yes
    """
    from mailer.app.sending import SendJob

    quiet_for_json(as_json)
    job = SendJob.open(state.workspace(), state.database(), campaign, prefix=True)
    if test_to:
        _send_test_copies(job, test_to, as_json)
        return
    if dry_run:
        _dry_run(job, as_json)
        return
    plan = job.plan()
    if plan.finished:
        _already_finished(job, plan, as_json)
        return
    if plan.draft:
        job = _approve_first(job, campaign, as_json)
        plan = job.plan()
    if not yes:
        _confirm(job, plan)
    if enqueue:
        _enqueue(job, as_json)
    else:
        _send_now(job, as_json)


def _send_test_copies(job: SendJob, addresses: list[str], as_json: bool) -> None:
    """--test-to: a [TEST] copy to each address, never recorded as a delivery."""
    for address in addresses:
        job.send_test(address)
        console.print(escape(f"Sent a [TEST] copy of {job.campaign.slug!r} to {address}"))
    if as_json:
        print_json(job.report("test-sent", test_to=list(addresses)).as_dict())


def _dry_run(job: SendJob, as_json: bool) -> None:
    """--dry-run: who and what, nothing sent."""
    summary = job.dry_run()
    if as_json:
        print_json(
            job.report("dry-run", recipients=summary.audience, dry_run=asdict(summary)).as_dict()
        )
    check = summary.check
    chosen = (
        "any of the tags " + ", ".join(summary.tags) if summary.tags else "every active subscriber"
    )
    if summary.exclude_tags:
        chosen += ", except the tags " + ", ".join(summary.exclude_tags)
    shown = ", ".join(summary.first_addresses)
    more = summary.audience - len(summary.first_addresses)
    console.print(f"Dry run of {job.campaign.slug!r}: nothing was sent.")
    console.print("Who")
    audience = plural(summary.audience, "active subscriber")
    console.print(f"  audience:   {audience} ({escape(chosen)})")
    if shown:
        console.print(f"  first:      {escape(shown)}" + (f" and {more:,} more" if more else ""))
    console.print("What")
    console.print(f"  subject:    {escape(summary.subject)}")
    console.print(f"  preheader:  {escape(summary.preheader) or '(none)'}")
    console.print(f"  HTML size:  {summary.html_bytes:,} bytes (Gmail clips at about 102 KB)")
    verdict = "passes" if check["ok"] else "fails"
    console.print(
        f"  check:      {verdict}: {plural(check['errors'], 'error')}, "
        f"{plural(check['warnings'], 'warning')}"
        + ("" if check["ok"] else f" (details: `mailer check {job.campaign.slug}`)")
    )
    console.print(f"  provider:   {summary.provider}")


def _already_finished(job: SendJob, plan: SendPlan, as_json: bool) -> None:
    """A finished campaign: nothing is sent again."""
    run = plan.run
    assert run is not None and run.finished_at is not None
    counts = job.ledger.counts(run.id)
    console.print(
        f"{job.campaign.slug!r} finished on {run.finished_at:%Y-%m-%d %H:%M} UTC "
        f"({counts['sent']:,} sent). Nothing is sent again."
    )
    if as_json:
        print_json(job.report("already-finished", run.id).as_dict())


def _approve_first(job: SendJob, name: str, as_json: bool) -> SendJob:
    """A draft: on a terminal, offer to check and approve it now (`mailer approve`, which
    exits 1 changing nothing if the check fails); elsewhere refuse. The job, reopened."""
    from mailer.app.sending import SendJob
    from mailer.cli.campaigns import approve_command

    slug = job.campaign.slug
    if not _interactive(as_json) or not typer.confirm(
        f"{slug!r} is a draft and has not been approved. Check and approve it now?",
        default=False,
    ):
        raise CampaignError(
            f"{slug!r} is a draft and has not been approved",
            hint=f"check and approve it first: mailer approve {slug}",
        )
    approve_command(slug)
    return SendJob.open(state.workspace(), state.database(), name, prefix=True)


def _confirm(job: SendJob, plan: SendPlan) -> None:
    """Without --yes: ask on a terminal; refuse without one (a script or cron cannot answer)."""
    if not sys.stdin.isatty():  # the question reads stdin
        raise UsageError(
            "no terminal to confirm on: add --yes to send from a script",
            hint=f"mailer send {job.campaign.slug} --yes",
        )
    what = "Resume" if plan.run is not None else "Send"
    audience = job.recipients(plan)
    if not typer.confirm(
        f"{what} {job.campaign.slug!r} to {plural(audience, 'subscriber')} "
        f"via {job.provider_name}?",
        default=False,
    ):
        raise SendDeclined(f"{job.campaign.slug!r} was not sent", reported=True)


def _interactive(as_json: bool) -> bool:
    """A person at a terminal, and no --json (a question would break the JSON on stdout)."""
    return sys.stdin.isatty() and sys.stdout.isatty() and not as_json


def _enqueue(job: SendJob, as_json: bool) -> None:
    """--enqueue: fix the audience; `mailer worker` processes send it."""
    run, _ = job.start()
    console.print(
        f"{job.campaign.slug!r} is queued for {plural(run.recipients, 'recipient')}; "
        "`mailer worker` processes send it."
    )
    if as_json:
        print_json(job.report("queued", run.id).as_dict())


def _send_now(job: SendJob, as_json: bool) -> None:
    """Send, or resume, here; SIGTERM and Ctrl-C stop after what is in flight."""
    stop = _StopFlag()
    stop.install()
    _freeze_what_is_loaded()
    outcome = _run_with_progress(job, stop)
    _print_outcome(job, outcome)
    document = None
    if as_json:
        finished = "finished" if outcome.finished else "stopped"
        state_name = "paused" if outcome.paused_reason else finished
        reason = outcome.paused_reason or None
        document = job.report(state_name, outcome.run_id, paused_reason=reason).as_dict()
    if outcome.paused_reason:
        raise SendPaused(
            outcome.paused_reason,
            hint=f"fix the cause, then run `mailer send {job.campaign.slug}` to resume",
            document=document,
        )
    if stop.interrupted and not outcome.finished:
        raise Interrupted(document=document, reported=True)
    if document is not None:
        print_json(document)


def _freeze_what_is_loaded() -> None:
    """Everything loaded so far (modules, the ORM's mappers, settings: ~100,000 objects) lives
    as long as the process; frozen, the collector stops rescanning it at every full pass. Those
    rescans were a fifth of a send's CPU (20,000 recipients: 2.2 s -> 1.8 s; issue 17)."""
    gc.collect()
    gc.freeze()


def _run_with_progress(job: SendJob, stop: _StopFlag) -> SendOutcome:
    run, created = job.start()
    if not created:
        console.print(f"Resuming {job.campaign.slug!r}.")
    total = run.recipients
    done_before = job.done(run)
    if console.is_terminal:
        from rich.progress import (  # only on a terminal; not for `mailer --help`
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:>8.0f}/s"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(
                f"sending {job.campaign.slug}", total=total, completed=done_before, rate=0.0
            )
            started = time.monotonic()

            def on_progress(outcome: SendOutcome) -> None:
                sent = outcome.sent + outcome.failed
                rate = sent / max(time.monotonic() - started, 1e-6)
                progress.update(task, completed=done_before + sent, rate=rate)

            return job.run(run, on_progress=on_progress, should_stop=stop)
    last = [time.monotonic()]
    started = time.monotonic()

    def log_progress(outcome: SendOutcome) -> None:
        now = time.monotonic()
        if now - last[0] < 2:
            return
        last[0] = now
        sent = outcome.sent + outcome.failed
        err_console.print(
            f"{job.campaign.slug}: {done_before + sent:,}/{total:,} sent, "
            f"{sent / max(now - started, 1e-6):,.0f}/s"
        )

    return job.run(run, on_progress=log_progress, should_stop=stop)


def _print_outcome(job: SendJob, outcome: SendOutcome) -> None:
    counts = job.ledger.counts(outcome.run_id)
    run = job.ledger.get_run(outcome.run_id)
    console.print(
        f"{job.campaign.slug}: {counts['sent']:,} sent, {counts['failed']:,} refused, "
        f"{counts['skipped']:,} skipped (unsubscribed meanwhile), "
        f"{counts['queued'] + counts['claimed'] + counts['sending']:,} to go."
    )
    if run.possible_duplicates:
        console.print(
            f"[yellow]{plural(run.possible_duplicates, 'recipient')} "
            f"{'was' if run.possible_duplicates == 1 else 'were'} in the request in flight when "
            "an earlier send stopped abruptly; they may have received this issue twice.[/yellow]"
        )
    if outcome.paused_reason:
        return  # the error mapper says why, with the hint (SendPaused)
    if outcome.finished:
        console.print("[green]Finished.[/green]")
    else:
        console.print(f"Stopped; resume with `mailer send {job.campaign.slug}`.")


@command(app, "worker")
def worker_command(
    poll: float = typer.Option(
        5.0,
        "--poll",
        help="Seconds between looks for work when idle (on PostgreSQL, `mailer send --enqueue` "
        "wakes idle workers at once).",
    ),
    once: bool = typer.Option(False, "--once", help="Exit when no campaign is sending."),
) -> None:
    """A delivery worker: sends batches of every campaign that is sending.

    Several workers, on several machines, can share one PostgreSQL database: each claims its
    own batches. Stop with Ctrl-C or SIGTERM; the message or request in flight finishes and
    is recorded first (a second Ctrl-C aborts at once). Ctrl-C exits 130.
    """
    from mailer.app.worker import run_worker

    stop = _StopFlag()
    stop.install()
    state.service_logging()
    _freeze_what_is_loaded()
    run_worker(state.workspace(), state.database(), poll=poll, once=once, should_stop=stop)
    if not stop():  # --once, and nothing left to send
        return
    err_console.print(
        "worker stopped; the campaigns it was sending resume with another worker "
        "or `mailer send SLUG`"
    )
    if stop.interrupted:
        raise Interrupted(reported=True)
