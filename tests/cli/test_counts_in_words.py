"""Issue 19 item 6: every count the command line prints agrees with its noun ("1 subscriber",
"1 click by 1 person", "2 campaigns"), through mailer.words.plural."""

from __future__ import annotations

import pytest

from mailer.words import plural
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import CAMPAIGN, SLUG


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [
        (0, "subscriber", "0 subscribers"),
        (1, "subscriber", "1 subscriber"),
        (1_204, "subscriber", "1,204 subscribers"),
        (1, "person", "1 person"),
        (2, "person", "2 people"),
        (2, "click", "2 clicks"),
        (3, "address", "3 addresses"),
        (2, "reply", "2 replies"),
        (2, "day", "2 days"),
    ],
)
def test_plural(count: int, word: str, expected: str) -> None:
    assert plural(count, word) == expected


def test_counts_of_one_read_in_the_singular(mailer: Mailer, workspace: Workspace) -> None:
    (workspace.campaigns_dir / f"{SLUG}.md").write_text(CAMPAIGN, encoding="utf-8")
    for args in (("subscribers", "add", "jane@example.com"), ("approve", SLUG)):
        assert mailer(*args).exit_code == 0
    listed = mailer("subscribers", "list")
    assert listed.stdout.splitlines()[-1] == "1 subscriber", listed.stdout
    exported = mailer("subscribers", "export", str(workspace.root / "list.csv"))
    assert "Exported 1 subscriber to " in exported.stdout
    dry = mailer("send", SLUG, "--dry-run")
    assert "1 active subscriber" in dry.stdout and "1 active subscribers" not in dry.stdout
    assert mailer("send", SLUG, "--yes").exit_code == 0
    campaigns = mailer("campaigns", "list").stdout
    assert "1 of 1 recipient, 0 people clicked" in campaigns, campaigns
    assert campaigns.splitlines()[-1].startswith("1 campaign; times in ")
