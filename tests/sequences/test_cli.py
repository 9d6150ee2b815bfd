"""`mailer sequences run|list|enroll` with real campaign files, approvals and the outbox:
step 0 at once, step 1 when due, each once; nothing after unsubscribing; an import without
--welcome enrols nobody (issue 16's "done when", through the command line)."""

from __future__ import annotations

import time
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path

from mailer.workspace import Workspace
from tests.cli_runner import Mailer

STEP = """---
subject: "{subject}"
preheader: "Welcome to the clinic's newsletter."
status: draft
sequence: welcome
after: {after}
articles:
- title: What to expect at a first visit
  url: https://www.summitspine.example/blog/first-visit
---
Thank you for joining us. {subject}.

[[cta]]
"""


def _step(workspace: Workspace, slug: str, subject: str, after: str) -> None:
    path = workspace.campaigns_dir / f"{slug}.md"
    path.write_text(STEP.format(subject=subject, after=after), encoding="utf-8")


def _recipients(workspace: Workspace, slug: str) -> list[str]:
    folder = workspace.outbox_dir / slug
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    return sorted(parseaddr(str(message_from_bytes(p.read_bytes())["To"]))[1] for p in files)


def test_steps_go_once_in_order_and_stop_when_someone_leaves(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    _step(workspace, "welcome-1-first-visit", "Your first visit", "3s")
    for slug in ("welcome-0-hello", "welcome-1-first-visit"):
        assert mailer("approve", slug).exit_code == 0
    assert mailer("subscribers", "add", "jane@example.com").exit_code == 0
    assert mailer("subscribers", "add", "bob@example.com").exit_code == 0
    patients = tmp_path / "patients.csv"
    patients.write_text("Email\nold1@example.com\nold2@example.com\n", encoding="utf-8")
    assert mailer("subscribers", "import", str(patients)).exit_code == 0

    first = mailer("sequences", "run", "--json")
    assert first.exit_code == 0, first.stderr
    assert _recipients(workspace, "welcome-0-hello") == ["bob@example.com", "jane@example.com"]
    assert _recipients(workspace, "welcome-1-first-visit") == []

    assert mailer("subscribers", "unsubscribe", "bob@example.com").exit_code == 0
    time.sleep(3.1)
    assert mailer("sequences", "run").exit_code == 0
    again = mailer("sequences", "run", "--json")
    assert again.json()["sent"] == 0
    assert _recipients(workspace, "welcome-0-hello") == ["bob@example.com", "jane@example.com"]
    assert _recipients(workspace, "welcome-1-first-visit") == ["jane@example.com"]

    listed = mailer("sequences", "list", "--json").json()
    (welcome,) = listed["series"]
    assert welcome["name"] == "welcome"
    assert [(s["slug"], s["sent"]) for s in welcome["steps"]] == [
        ("welcome-0-hello", 2),
        ("welcome-1-first-visit", 1),
    ]
    assert (welcome["enrolled"], welcome["left"]) == (1, 1)
    report = mailer("report", "welcome-0-hello", "--json")  # a step's figures, as a campaign's
    assert report.exit_code == 0, report.stderr
    assert report.json()["sent"] == 2


def test_existing_people_enter_only_on_request_and_only_once(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    assert mailer("approve", "welcome-0-hello").exit_code == 0
    patients = tmp_path / "patients.csv"
    patients.write_text("Email,Tags\nold1@example.com,patients\nold2@example.com,\n")
    assert mailer("subscribers", "import", str(patients)).exit_code == 0
    assert mailer("sequences", "run", "--json").json()["sent"] == 0

    enrolled = mailer("sequences", "enroll", "welcome", "--existing", "--tag", "patients", "--json")
    assert enrolled.json()["enrolled"] == 1
    assert mailer("sequences", "enroll", "welcome", "--existing", "--json").json()["enrolled"] == 1
    assert mailer("sequences", "enroll", "welcome", "--existing", "--json").json()["enrolled"] == 0
    assert mailer("sequences", "run", "--json").json()["sent"] == 2
    assert _recipients(workspace, "welcome-0-hello") == ["old1@example.com", "old2@example.com"]


def test_import_with_welcome_enrols_the_people_it_adds(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    assert mailer("approve", "welcome-0-hello").exit_code == 0
    new = tmp_path / "new.csv"
    new.write_text("Email\nnew1@example.com\n")
    result = mailer("subscribers", "import", str(new), "--welcome", "--json")
    assert result.json()["welcomed"] == 1
    assert mailer("sequences", "run", "--json").json()["sent"] == 1


def test_an_unapproved_step_is_skipped_and_staff_are_told_once(
    mailer: Mailer, workspace: Workspace
) -> None:
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    assert mailer("subscribers", "add", "jane@example.com").exit_code == 0
    first = mailer("sequences", "run", "--json").json()
    assert first["series"]["welcome"][0]["approved"] is False
    assert first["sent"] == 0
    mailer("sequences", "run")
    notices = [
        path
        for path in workspace.outbox_dir.rglob("*.eml")
        if "not approved" in str(message_from_bytes(path.read_bytes())["Subject"])
    ]
    assert len(notices) == 1


def test_enroll_refuses_a_name_that_is_no_series(mailer: Mailer) -> None:
    result = mailer("sequences", "enroll", "Welcome Series", "--existing")
    assert result.exit_code == 2
    assert "is not a series name" in result.stderr


def test_list_shows_how_many_each_step_is_due_for_now(mailer: Mailer, workspace: Workspace) -> None:
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    _step(workspace, "welcome-1-first-visit", "Your first visit", "1h")
    assert mailer("subscribers", "add", "jane@example.com").exit_code == 0
    assert mailer("subscribers", "add", "bob@example.com").exit_code == 0

    def due() -> list[tuple[str, int]]:
        listed = mailer("sequences", "list", "--json").json()
        return [(s["slug"], s["due_now"]) for s in listed["series"][0]["steps"]]

    assert due() == [("welcome-0-hello", 2), ("welcome-1-first-visit", 0)]  # awaiting approval
    table = mailer("sequences", "list")
    assert "due now" in table.stdout
    assert mailer("approve", "welcome-0-hello").exit_code == 0
    assert due() == [("welcome-0-hello", 2), ("welcome-1-first-visit", 0)]
    assert mailer("sequences", "run").exit_code == 0
    assert due() == [("welcome-0-hello", 0), ("welcome-1-first-visit", 0)]


def test_a_step_is_never_sent_to_the_whole_list_by_mailer_send(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    _step(workspace, "welcome-0-hello", "Welcome", "0s")
    patients = tmp_path / "patients.csv"
    patients.write_text("Email\nold1@example.com\nold2@example.com\n", encoding="utf-8")
    assert mailer("subscribers", "import", str(patients)).exit_code == 0
    approved = mailer("approve", "welcome-0-hello")
    assert "goes to each person of the welcome series" in approved.stdout
    assert "mailer send welcome-0-hello" not in approved.stdout  # the slot's hint was wrong here
    sent = mailer("send", "welcome-0-hello", "--yes")
    assert sent.exit_code == 2
    assert "never to the whole list at once" in sent.stderr
    assert _recipients(workspace, "welcome-0-hello") == []
