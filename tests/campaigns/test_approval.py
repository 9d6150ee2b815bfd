"""Issue 10: nothing goes out that staff did not approve as it stands.

Items 1 (approval bound to content), 2 (a send keeps what it started with), 6 (sent campaigns),
7 (one broken campaign file), 8 (concurrent sends of one new campaign). Concurrent sends run
on SQLite and PostgreSQL; sends are real `mailer` processes where the behaviour is a process's.
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.approval import current_approval, fingerprint
from mailer.campaigns.campaign import load_campaign, mark_approved, mark_sent, save_campaign
from mailer.errors import CampaignError
from mailer.schedule.slots import SlotHandler
from mailer.schedule.status import scheduler_status
from mailer.store.models import CampaignApproval, CampaignRun, Delivery, SlotOutcome
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import (
    CAMPAIGN,
    MAILER,
    SLUG,
    approve_file,
    fill_list,
    write_campaign,
)
from tests.scheduler_helpers import outbox_count, slot_rows, staff_notices
from tests.scheduler_helpers import write_campaign as write_scheduled
from tests.web_server import LiveServer

SLOT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # Tuesday 09:00 in Denver
CHANGED = "changed since approval: check and approve again"
FOOTER = "_footer.mjml.j2"
UNSUBSCRIBE_LINK = '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE__URL"] = database_url
    env["MAILER_SECRET_KEY"] = "test-secret-key-0123456789abcdef"
    env.update(extra)
    return env


def _approvals(sessions: sessionmaker[Session], slug: str) -> list[CampaignApproval]:
    with sessions() as session:
        return list(
            session.scalars(
                select(CampaignApproval)
                .where(CampaignApproval.slug == slug)
                .order_by(CampaignApproval.id)
            )
        )


def _content(eml: Path) -> str:
    """The decoded text and HTML parts of an .eml file."""
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    parts = [message.get_body((kind,)) for kind in ("plain", "html")]
    return "\n".join(part.get_content() for part in parts if part is not None)


def _runs(sessions: sessionmaker[Session]) -> list[CampaignRun]:
    with sessions() as session:
        return list(session.scalars(select(CampaignRun).order_by(CampaignRun.id)))


# -- item 1: the fingerprint ------------------------------------------------------------------


def test_fingerprint_is_stable_and_changes_with_what_goes_out(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 1: the fingerprint is the same for two compiles of the same inputs and
    for edits of status/approval fields only; the body, a template, a setting that renders
    in, the audience or send_on each change it."""
    path = workspace.campaigns_dir / f"{SLUG}.md"
    path.write_text(CAMPAIGN.replace("status: approved", "status: draft"), encoding="utf-8")
    original = fingerprint(workspace, load_campaign(path))
    assert len(original) == 64
    assert fingerprint(workspace, load_campaign(path)) == original  # no time, no randomness

    campaign = load_campaign(path)
    mark_approved(campaign, datetime(2026, 11, 20, 10, tzinfo=UTC), "cli:alice")
    save_campaign(campaign, path)
    assert 'approved_by: "cli:alice"' in path.read_text(encoding="utf-8")
    assert fingerprint(workspace, load_campaign(path)) == original
    campaign = load_campaign(path)
    mark_sent(campaign, datetime(2026, 11, 24, 16, tzinfo=UTC))
    save_campaign(campaign, path)
    assert fingerprint(workspace, load_campaign(path)) == original

    def changed(edit: str, replacement: str) -> str:
        saved = path.read_text(encoding="utf-8")
        path.write_text(saved.replace(edit, replacement, 1), encoding="utf-8")
        try:
            return fingerprint(workspace, load_campaign(path))
        finally:
            path.write_text(saved, encoding="utf-8")

    assert changed("in the morning.", "in the evening.") != original  # the body
    sent = 'status: "sent"\n'  # saved front matter values are quoted
    assert sent in path.read_text(encoding="utf-8")
    assert changed(sent, sent + "send_on: 2026-12-01\n") != original
    assert changed(sent, sent + "audience:\n  tags: [patients]\n") != original
    assert fingerprint(workspace, load_campaign(path)) == original

    footer = workspace.templates_dir / FOOTER
    saved_footer = footer.read_text(encoding="utf-8")
    footer.write_text(saved_footer.replace(UNSUBSCRIBE_LINK, ""), encoding="utf-8")
    assert fingerprint(workspace, load_campaign(path)) != original  # a template
    footer.write_text(saved_footer, encoding="utf-8")
    assert fingerprint(workspace, load_campaign(path)) == original

    monkeypatch.setenv("MAILER_ORGANIZATION__POSTAL_ADDRESS", "9 Other Street, Denver, CO 80202")
    moved = Workspace(workspace.root)  # a setting that renders into the message
    assert fingerprint(moved, load_campaign(path)) != original


# -- item 1: refusal at send time -------------------------------------------------------------


@pytest.mark.slow
def test_send_refuses_a_campaign_whose_template_changed_since_approval(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 1: approve, then remove the unsubscribe link from a template: `mailer
    send --yes` sends nothing, exits 1 with "changed since approval", and the campaign is a
    draft again with its approval revoked (kept, with the reason)."""
    fill_list(sessions, tmp_path, 5)
    path = write_campaign(workspace, sessions)
    footer = workspace.templates_dir / FOOTER
    footer.write_text(footer.read_text().replace(UNSUBSCRIBE_LINK, ""), encoding="utf-8")

    result = mailer("send", SLUG, "--yes", env=_env(database_url), process=True)

    assert result.exit_code == 1, result.stdout + result.stderr
    assert CHANGED in result.stderr and "Traceback" not in result.stderr
    assert f"mailer approve {SLUG}" in result.stderr
    assert not (workspace.outbox_dir / SLUG).exists()
    assert _runs(sessions) == []
    assert load_campaign(path).status == "draft"
    [approval] = _approvals(sessions, SLUG)
    assert approval.revoked_at is not None and "changed since approval" in approval.revoked_reason
    assert current_approval(sessions, SLUG) is None


@pytest.mark.slow
def test_send_refuses_an_edited_body_until_it_is_approved_again(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 1: an edit of the body after approval is refused; `mailer approve` again
    (as an OS user, recorded as cli:<user>) makes the edited version the one that goes out."""
    emails = fill_list(sessions, tmp_path, 4)
    path = write_campaign(workspace, sessions)
    path.write_text(
        path.read_text().replace("in the morning.", "in the morning. EDITED AFTER APPROVAL"),
        encoding="utf-8",
    )
    env = _env(database_url)

    refused = mailer("send", SLUG, "--yes", env=env, process=True)
    assert refused.exit_code == 1 and CHANGED in refused.stderr
    assert load_campaign(path).status == "draft"

    approved = mailer("approve", SLUG, env=env, process=True)
    assert approved.exit_code == 0, approved.stdout + approved.stderr
    campaign = load_campaign(path)
    assert campaign.status == "approved"
    assert str(campaign.extra["approved_by"]).startswith("cli:")
    assert [a.revoked_at is None for a in _approvals(sessions, SLUG)] == [False, True]

    sent = mailer("send", SLUG, "--yes", env=env, process=True)
    assert sent.exit_code == 0, sent.stdout + sent.stderr
    messages = sorted((workspace.outbox_dir / SLUG).glob("*.eml"))
    assert len(messages) == len(emails)
    assert all("EDITED AFTER APPROVAL" in _content(m) for m in messages)


@pytest.mark.slow
def test_a_status_approved_typed_into_the_file_is_not_an_approval(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 1: a file hand-edited to status: approved, never `mailer approve`d, is
    not sent by `mailer send` nor by a slot; both say to run `mailer approve`."""
    fill_list(sessions, tmp_path, 3)
    path = workspace.campaigns_dir / f"{SLUG}.md"
    path.write_text(CAMPAIGN, encoding="utf-8")  # says status: approved

    result = mailer("send", SLUG, "--yes", env=_env(database_url), process=True)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "not approved with `mailer approve`" in result.stderr.replace("\n", " ")
    assert f"mailer approve {SLUG}" in result.stderr

    report = SlotHandler(workspace, sessions, owner="a").fire(SLOT, now=SLOT)
    assert report.outcome == SlotOutcome.NOTHING_APPROVED
    assert not (workspace.outbox_dir / SLUG).exists()
    [notice] = staff_notices(workspace)
    assert "never approved with `mailer approve`" in notice and SLUG in notice
    assert scheduler_status(workspace, sessions).not_approved == [SLUG]


def test_a_slot_skips_a_campaign_changed_since_approval_and_sends_the_next(
    workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 10 item 1: at a slot, the oldest approved campaign was edited after approval: it
    goes back to draft, staff get a notice, and the next approved campaign goes out."""
    fill_list(sessions, tmp_path, 6)
    edited = write_scheduled(
        workspace, sessions, "edited-issue", approved_at="2026-11-19T08:00:00Z"
    )
    write_scheduled(workspace, sessions, "intact-issue", approved_at="2026-11-20T08:00:00Z")
    edited.write_text(
        edited.read_text().replace("one long afternoon", "one long EDITED afternoon"),
        encoding="utf-8",
    )

    report = SlotHandler(workspace, sessions, owner="a").fire(SLOT, now=SLOT)

    assert (report.outcome, report.campaign_slug, report.sent) == ("sent", "intact-issue", 6)
    assert outbox_count(workspace, "edited-issue") == 0
    assert load_campaign(edited).status == "draft"
    assert current_approval(sessions, "edited-issue") is None
    [row] = slot_rows(sessions)
    assert (row.outcome, row.campaign_slug) == ("sent", "intact-issue")
    [notice] = [n for n in staff_notices(workspace) if "edited-issue" in n]
    assert "not sent: edited-issue changed since approval" in notice and CHANGED in notice


@pytest.mark.slow
def test_a_queued_run_whose_approval_was_revoked_sends_nothing(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 1: a worker re-checks before a run's first message: a run queued with
    `mailer send --enqueue` whose approval was revoked meanwhile (`mailer unapprove`, or by
    another process) is withdrawn and nothing goes out."""
    fill_list(sessions, tmp_path, 5)
    path = write_campaign(workspace, sessions)
    env = _env(database_url)

    queued = mailer("send", SLUG, "--yes", "--enqueue", env=env, process=True)
    assert queued.exit_code == 0, queued.stdout + queued.stderr
    [run] = _runs(sessions)
    assert run.fingerprint == fingerprint(workspace, load_campaign(path))
    with sessions.begin() as session:  # revoked by another process, e.g. the staff web app
        session.execute(
            text("UPDATE campaign_approvals SET revoked_at = :now, revoked_reason = 'test'"),
            {"now": datetime.now(UTC).replace(tzinfo=None)},
        )
    worker = mailer("worker", "--once", env=env, process=True)
    assert worker.exit_code == 0, worker.stdout + worker.stderr
    assert not (workspace.outbox_dir / SLUG).exists()
    assert _runs(sessions) == []

    approve_file(workspace, sessions, path)  # approved again, queued again, then unapproved
    assert mailer("send", SLUG, "--yes", "--enqueue", env=env, process=True).exit_code == 0
    unapproved = mailer("unapprove", SLUG, env=env, process=True)
    assert unapproved.exit_code == 0, unapproved.stdout + unapproved.stderr
    assert load_campaign(path).status == "draft" and _runs(sessions) == []
    assert mailer("worker", "--once", env=env, process=True).exit_code == 0
    assert not (workspace.outbox_dir / SLUG).exists()


# -- item 2: a send keeps what it started with ------------------------------------------------


@pytest.mark.slow
def test_a_resumed_send_and_the_archive_keep_what_the_send_started_with(
    mailer: Mailer,
    live_server: LiveServer,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Issue 10 item 2: a send stops part-way; staff then edit the body, set status: draft
    and change a template. `mailer send` resumes with exactly the message it started with,
    and /archive/<slug> shows what was sent, not the file as it is now."""
    from mailer.app.sending import SendJob
    from mailer.store.db import open_database

    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    monkeypatch.setenv("MAILER_DELIVERY__BATCH_SIZE", "10")
    workspace = Workspace(live_server.workspace.root)
    _, sessions = open_database(database_url)
    fill_list(sessions, tmp_path, 30)
    path = write_campaign(workspace, sessions)
    job = SendJob.open(workspace, sessions, SLUG)
    run, _ = job.start()
    batches = []
    outcome = job.run(run, on_progress=batches.append, should_stop=lambda: bool(batches))
    assert not outcome.finished and 0 < outcome.sent < 30
    first = sorted((workspace.outbox_dir / SLUG).glob("*.eml"))

    path.write_text(
        path.read_text()
        .replace('status: "approved"', 'status: "draft"')
        .replace("How you sleep shapes", "EDITED LATER: how you sleep shapes"),
        encoding="utf-8",
    )
    footer = workspace.templates_dir / FOOTER
    footer.write_text(
        footer.read_text()
        .replace("View in browser", "CHANGED FOOTER")
        # also a line the archive's web copy keeps (it drops the email-only "View in browser")
        .replace("{{ organization.name }}</p>", "CHANGED FOOTER</p>"),
        "utf-8",
    )

    resumed = mailer(
        "send",
        SLUG,
        "--yes",
        env=_env(
            database_url, MAILER_WEB__BASE_URL=live_server.url, MAILER_DELIVERY__BATCH_SIZE="10"
        ),
        process=True,
    )
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    messages = sorted((workspace.outbox_dir / SLUG).glob("*.eml"))
    assert len(messages) == 30 and len(first) == outcome.sent
    for message in messages:
        body = _content(message)
        assert "How you sleep shapes" in body and "View in browser" in body
        assert "EDITED LATER" not in body and "CHANGED FOOTER" not in body

    page = httpx.get(f"{live_server.url}/archive/{SLUG}")
    assert page.status_code == 200
    assert "How you sleep shapes" in page.text and "Subscribe to the newsletter" in page.text
    assert "EDITED LATER" not in page.text and "CHANGED FOOTER" not in page.text


# -- item 6: a finished campaign says sent ----------------------------------------------------


@pytest.mark.slow
def test_a_finished_campaign_says_sent_and_is_never_approved_or_picked_again(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 6: when a run finishes (by `mailer send` or by `mailer worker`), the file
    says status: sent with sent_at; `mailer approve` on it exits 1 saying it was sent; the
    scheduler never considers it, even with status: approved typed back in."""
    fill_list(sessions, tmp_path, 4)
    path = write_campaign(workspace, sessions)
    env = _env(database_url)
    assert mailer("send", SLUG, "--yes", env=env, process=True).exit_code == 0

    campaign = load_campaign(path)
    assert campaign.status == "sent"
    [run] = _runs(sessions)
    assert run.finished_at is not None
    sent_at = datetime.fromisoformat(str(campaign.extra["sent_at"]).replace("Z", "+00:00"))
    assert abs(sent_at - run.finished_at) < timedelta(seconds=1)

    again = mailer("approve", SLUG, env=env, process=True)
    assert again.exit_code == 1, again.stdout + again.stderr
    assert "was sent on" in again.stderr and "copy it to a new file" in again.stderr
    assert load_campaign(path).status == "sent"

    typed = path.read_text().replace('status: "sent"', "status: approved")
    assert "status: approved" in typed
    path.write_text(typed, "utf-8")
    report = SlotHandler(workspace, sessions, owner="a").fire(SLOT, now=SLOT)
    assert report.outcome == SlotOutcome.NOTHING_APPROVED
    assert outbox_count(workspace, SLUG) == 4

    queued = workspace.campaigns_dir / "queued-issue.md"
    queued.write_text(CAMPAIGN, encoding="utf-8")
    approve_file(workspace, sessions, queued)
    assert (
        mailer("send", "queued-issue", "--enqueue", "--yes", env=env, process=True).exit_code == 0
    )
    assert load_campaign(queued).status == "approved"  # queued, not finished
    assert mailer("worker", "--once", env=env, process=True).exit_code == 0
    assert load_campaign(queued).status == "sent"


def test_the_slot_that_finishes_a_campaign_marks_it_sent(
    workspace: Workspace, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 10 item 6: the scheduler finishing a run writes status: sent too."""
    fill_list(sessions, tmp_path, 3)
    path = write_scheduled(workspace, sessions, "this-week")
    report = SlotHandler(workspace, sessions, owner="a").fire(SLOT, now=SLOT)
    assert report.campaign_slug == "this-week"
    assert load_campaign(path).status == "sent"
    assert scheduler_status(workspace, sessions).queue == []


# -- item 7: one broken campaign file ---------------------------------------------------------


def test_a_bad_date_names_the_file_line_and_key(workspace: Workspace) -> None:
    """Issue 10 item 7: an impossible date, or broken YAML, is a CampaignError naming the
    file, the line and (for a value) the key, never a bare ValueError."""
    path = workspace.campaigns_dir / "bad-date.md"
    path.write_text("---\nsubject: Hello\nsend_on: 2026-13-45\n---\nBody\n", encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert caught.value.message.startswith(f"{path}:3: send_on:")
    assert "YYYY-MM-DD" in (caught.value.hint or "")

    path.write_text("---\nsubject: Hello\naudience: [oops\n---\nBody\n", encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert "not valid YAML" in caught.value.message and "line 3" in caught.value.message


@pytest.mark.slow
def test_one_bad_campaign_file_is_skipped_and_staff_are_told_once(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 7: a draft with send_on: 2026-13-45 no longer fails every slot: the
    approved campaign goes out, no slot stays claimed, staff are told once per content of the
    bad file, and `mailer scheduler status` works and names the file and line."""
    fill_list(sessions, tmp_path, 3)
    write_scheduled(workspace, sessions, "good-issue")
    bad = workspace.campaigns_dir / "bad-date.md"
    bad.write_text(
        "---\nsubject: Broken\nstatus: draft\nsend_on: 2026-13-45\n---\nBody\n", encoding="utf-8"
    )
    handler = SlotHandler(workspace, sessions, owner="a")

    first = handler.fire(SLOT, now=SLOT)
    assert (first.outcome, first.campaign_slug) == ("sent", "good-issue")
    told = [n for n in staff_notices(workspace) if "cannot be read" in n]
    assert len(told) == 1 and f"{bad}:4: send_on" in told[0]

    later = SLOT + timedelta(days=7)
    assert handler.fire(later, now=later).outcome == SlotOutcome.NOTHING_APPROVED
    assert len([n for n in staff_notices(workspace) if "cannot be read" in n]) == 1

    bad.write_text("---\naudience: [still broken\n---\nBody\n", encoding="utf-8")
    latest = SLOT + timedelta(days=14)
    handler.fire(latest, now=latest)
    told = [n for n in staff_notices(workspace) if "cannot be read" in n]
    assert len(told) == 2 and f"{bad}:3" in told[1]
    assert [row.outcome for row in slot_rows(sessions)] == [
        "sent",
        "nothing-approved",
        "nothing-approved",
    ]

    status = scheduler_status(workspace, sessions)
    assert [p["file"] for p in status.problems] == [str(bad)]
    shown = mailer("scheduler", "status", env=_env(database_url), process=True)
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert "bad-date.md:3" in shown.stdout and "Traceback" not in shown.stderr


# -- item 8: concurrent sends of one new campaign ---------------------------------------------


def _blocked_in_insert(database_url: str, sessions: sessionmaker[Session], pids: list[int]) -> bool:
    """Are all these processes waiting to insert the run (behind the test's lock)?"""
    if database_url.startswith("postgresql"):
        with sessions() as session:
            waiting = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO campaign_runs%'"
                )
            )
        return waiting == len(pids)
    # SQLite: every process has the database open (it opens it right before the send).
    database = database_url.removeprefix("sqlite:///")
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        try:
            if not any(os.path.realpath(fd) == database for fd in fds.iterdir()):
                return False
        except OSError:
            return False
    return True


@pytest.mark.both_databases
@pytest.mark.slow
def test_several_sends_of_one_new_campaign_at_once_say_another_process_sends_it(
    workspace: Workspace, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    """Issue 10 item 8: four `mailer send` processes of one new campaign reach the point of
    starting it together (held behind a lock, released at once): one sends it, the others
    exit 1 with "already being sent by another process" (no IntegrityError traceback), and
    each subscriber gets it once."""
    emails = fill_list(sessions, tmp_path, 20)
    write_campaign(workspace, sessions)
    env = _env(database_url)
    lock = sessions()
    if database_url.startswith("postgresql"):
        lock.execute(text("LOCK TABLE campaign_runs IN SHARE ROW EXCLUSIVE MODE"))
    else:
        lock.connection().exec_driver_sql("BEGIN IMMEDIATE")  # the write lock: inserts wait
    processes = [
        subprocess.Popen(
            [MAILER, "--workspace", str(workspace.root), "send", SLUG, "--yes"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        deadline = time.monotonic() + 60
        pids = [p.pid for p in processes]
        while not _blocked_in_insert(database_url, sessions, pids):
            assert time.monotonic() < deadline, "the sends never reached the insert"
            time.sleep(0.1)
        if not database_url.startswith("postgresql"):
            time.sleep(5)  # SQLite cannot show who waits: time to reach the insert
    finally:
        lock.rollback()
        lock.close()
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]

    codes = sorted(code for code, _, _ in results)
    assert set(codes) <= {0, 1}, results
    refused = [err for code, _, err in results if code == 1]
    assert refused, results
    for err in refused:
        assert "already being sent by another process" in err and "Traceback" not in err
    assert all("Traceback" not in err for _, _, err in results)
    [run] = _runs(sessions)
    with sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.campaign_id == run.id)).all()
    assert len(rows) == len(emails) and all(row.state == "sent" for row in rows)
    assert outbox_count(workspace, SLUG) == len(emails)
