"""`mailer init` drafts a sample three-step welcome series from the sample articles (issue 16
item 6): drafts that pass the check, nothing sent until staff approve a step, and never added to
a workspace in use by `mailer init --force`."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from tests.cli_runner import Mailer

STEPS = ["welcome-0-hello", "welcome-1-headaches", "welcome-2-sleep"]


def test_init_drafts_a_three_step_welcome_series_that_sends_nothing_until_approved(
    mailer: Mailer, tmp_path: Path
) -> None:
    root = tmp_path / "clinic"
    created = mailer("init", str(root), workspace=None)
    assert created.exit_code == 0, created.stderr
    assert "sample welcome series (3 steps, drafts)" in created.stdout
    listed = mailer("sequences", "list", "--json", workspace=root).json()
    (welcome,) = listed["series"]
    assert [(s["slug"], s["after"], s["approved"]) for s in welcome["steps"]] == [
        ("welcome-0-hello", "0s", False),
        ("welcome-1-headaches", "3d", False),
        ("welcome-2-sleep", "1w", False),
    ]
    assert mailer("subscribers", "add", "jane@example.com", workspace=root).exit_code == 0
    assert mailer("sequences", "run", "--json", workspace=root).json()["sent"] == 0
    for slug in STEPS:  # each passes the check as drafted, so staff only read and approve
        approved = mailer("approve", slug, workspace=root)
        assert approved.exit_code == 0, approved.stdout + approved.stderr
    assert mailer("sequences", "run", "--json", workspace=root).json()["sent"] == 1
    (sent,) = (root / "outbox" / "welcome-0-hello").glob("*.eml")
    message = email.message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert message["Subject"] == "Welcome to Summit Upper Cervical Chiropractic"
    # The newsletter template greets the reader; a step's body must not greet them again.
    text = message.get_body(("plain",)).get_content()
    assert text.count("Hi Jane,") + text.count("Hi there,") == 1, text[:300]


def test_init_force_leaves_the_campaigns_of_a_workspace_in_use_alone(
    mailer: Mailer, tmp_path: Path
) -> None:
    root = tmp_path / "clinic"
    assert mailer("init", str(root), workspace=None).exit_code == 0
    for path in (root / "campaigns").glob("welcome-*.md"):
        path.unlink()
    (root / "campaigns" / "our-own-welcome.md").write_text("draft", encoding="utf-8")
    assert mailer("init", str(root), "--force", workspace=None).exit_code == 0
    assert sorted(p.name for p in (root / "campaigns").iterdir()) == ["our-own-welcome.md"]
