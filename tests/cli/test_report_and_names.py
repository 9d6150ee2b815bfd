"""Issue 19 items 7 and 8: `mailer report` alone lists every campaign with its figures; a name
that is no campaign is said to be none (with the nearest slug), not "not sent yet"; and a
unique beginning of a slug names the campaign wherever a command takes one."""

from __future__ import annotations

from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import CAMPAIGN, SLUG

OTHER = "2026-11-24-why-headaches-can-start-in-the-upper-neck"
THIRD = "2026-11-24-why-sleep-matters"


def _campaigns(workspace: Workspace, *slugs: str) -> None:
    for slug in slugs:
        (workspace.campaigns_dir / f"{slug}.md").write_text(CAMPAIGN, encoding="utf-8")


def _sent(mailer: Mailer, workspace: Workspace) -> None:
    """SLUG sent to one subscriber through the outbox, OTHER still a draft."""
    _campaigns(workspace, SLUG, OTHER)
    for args in (
        ("subscribers", "add", "jane@example.com"),
        ("approve", SLUG),
        ("send", SLUG, "--yes"),
    ):
        done = mailer(*args)
        assert done.exit_code == 0, (args, done.stdout, done.stderr)


def test_report_alone_lists_every_campaign_with_its_figures(
    mailer: Mailer, workspace: Workspace
) -> None:
    _sent(mailer, workspace)
    result = mailer("report")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        line.strip().startswith(f"{SLUG}  sent: sent ")
        and line.endswith(": 1 of 1 recipient, 0 people clicked")
        for line in lines
    ), result.stdout
    assert f"  {OTHER}  draft: not sent yet" in lines
    assert lines[-1].startswith("2 campaigns;")
    listed = mailer("report", "--json").json()["campaigns"]
    assert [(c["slug"], c["recipients"]) for c in listed] == [(OTHER, None), (SLUG, 1)]


def test_report_of_no_such_campaign_says_so_and_suggests_the_nearest(
    mailer: Mailer, workspace: Workspace
) -> None:
    _sent(mailer, workspace)
    result = mailer("report", "sleep-and-nek-pain")
    assert result.exit_code == 1
    assert "no campaign 'sleep-and-nek-pain'" in result.stderr
    assert f"did you mean `{SLUG}`?" in result.stderr
    assert "not been sent" not in result.stderr
    draft = mailer("report", OTHER)
    assert draft.exit_code == 2 and f"{OTHER!r} has not been sent yet" in draft.stderr


def test_a_unique_beginning_of_a_slug_names_the_campaign(
    mailer: Mailer, workspace: Workspace
) -> None:
    _sent(mailer, workspace)
    report = mailer("report", "sleep-and", "--json")
    assert report.exit_code == 0, report.stderr
    assert report.json()["recipients"] == 1
    check = mailer("check", "2026-11-24-why-head")
    assert check.exit_code == 0, check.stderr
    assert OTHER in check.stdout
    # What people remember is the words, not the date every draft starts with.
    without_date = mailer("check", OTHER.split("-", 3)[3][:12])
    assert without_date.exit_code == 0, without_date.stderr
    assert OTHER in without_date.stdout


def test_a_beginning_shared_by_several_campaigns_lists_them(
    mailer: Mailer, workspace: Workspace
) -> None:
    _campaigns(workspace, OTHER, THIRD)
    result = mailer("check", "2026-11-24-why")
    assert result.exit_code == 1
    assert f"'2026-11-24-why' is the beginning of 2 campaigns: {OTHER}, {THIRD}" in result.stderr
    assert "type more of the name" in result.stderr
    assert mailer("approve", "2026-11-24-why-s").exit_code == 0


def test_a_sent_campaign_whose_file_is_gone_still_reports(
    mailer: Mailer, workspace: Workspace
) -> None:
    _sent(mailer, workspace)
    (workspace.campaigns_dir / f"{SLUG}.md").unlink()
    for name in (SLUG, "sleep-and"):
        result = mailer("report", name, "--json")
        assert result.exit_code == 0, result.stderr
        assert result.json()["recipients"] == 1
