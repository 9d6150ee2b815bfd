"""Issue 19 item 9: `mailer send --dry-run` shows who (how many, the first few addresses, the
tags chosen) and what (subject, preheader, size, the check's verdict), as text and in --json."""

from __future__ import annotations

from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import CAMPAIGN, SLUG

TAGGED = CAMPAIGN.replace(
    "status: approved\n",
    "status: approved\naudience:\n  tags: [patients]\n  exclude_tags: [staff]\n",
)


def _list(mailer: Mailer) -> None:
    for n in range(7):
        done = mailer("subscribers", "add", f"reader{n}@example.com", "--tag", "patients")
        assert done.exit_code == 0, done.stderr
    assert mailer("subscribers", "add", "other@example.com").exit_code == 0
    assert mailer("subscribers", "add", "dr@example.com", "--tag", "patients", "--tag", "staff")


def test_dry_run_shows_who_and_what(mailer: Mailer, workspace: Workspace) -> None:
    _list(mailer)
    (workspace.campaigns_dir / f"{SLUG}.md").write_text(TAGGED, encoding="utf-8")
    result = mailer("send", SLUG, "--dry-run")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "  audience:   7 active subscribers (any of the tags patients, except the tags staff)"
        in lines
    )
    shown = ", ".join(f"reader{n}@example.com" for n in range(5))
    assert f"  first:      {shown} and 2 more" in lines
    assert "  subject:    Sleep position and neck pain" in lines
    assert "  preheader:  Three small changes for a better night." in lines
    assert any(line.startswith("  HTML size:  ") and "bytes" in line for line in lines)
    assert any(line.startswith("  check:      passes: 0 errors, ") for line in lines), lines
    assert not (workspace.outbox_dir / SLUG).exists()

    document = mailer("send", SLUG, "--dry-run", "--json").json()["dry_run"]
    assert document["first_addresses"] == [f"reader{n}@example.com" for n in range(5)]
    assert (document["tags"], document["exclude_tags"]) == (["patients"], ["staff"])
    assert document["preheader"] == "Three small changes for a better night."
    assert document["check"]["ok"] is True and document["audience"] == 7


def test_dry_run_says_when_the_check_fails(mailer: Mailer, workspace: Workspace) -> None:
    broken = CAMPAIGN.replace("subject: Sleep position and neck pain\n", "subject: ''\n")
    (workspace.campaigns_dir / f"{SLUG}.md").write_text(broken, encoding="utf-8")
    result = mailer("send", SLUG, "--dry-run")
    assert "  check:      fails: " in result.stdout, (result.stdout, result.stderr)
    assert f"(details: `mailer check {SLUG}`)" in result.stdout
