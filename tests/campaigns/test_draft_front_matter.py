"""Issue 12 item 4: a subject typed with a colon does not break the campaign.

Drafts write every front matter text in double quotes; a hand-typed subject or preheader is
read as typed; any other YAML mistake is an error naming the file's line and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.articles import load_article
from mailer.campaigns.campaign import load_campaign
from mailer.campaigns.draft import CallToAction, write_draft
from mailer.errors import CampaignError
from mailer.workspace import Workspace
from tests.cli_runner import Mailer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"
CTA = CallToAction("Book your free consultation", "https://www.summitspine.example/book")
TYPED = "Leg pain? It may start in your neck: here is why #1"


def campaign_file(tmp_path: Path, front_matter: str) -> Path:
    path = tmp_path / "2026-12-01-leg-pain.md"
    path.write_text(f"---\n{front_matter}---\n\nHello, neighbours.\n", encoding="utf-8")
    return path


def test_drafts_quote_every_text_value(tmp_path: Path) -> None:
    article = load_article(FIXTURES / "desk-posture-steps.txt")  # a title with a colon
    article.url = "https://www.summitspine.example/blog/desk"
    campaign = write_draft([article], tmp_path, CTA)
    assert campaign.path is not None
    head = campaign.path.read_text().split("\n---\n", 1)[0]
    assert '\n- title: "Desk Posture for a Happier Neck: Four Steps That Help"\n' in head
    for line in head.splitlines()[1:]:
        _, _, value = line.lstrip("- ").partition(": ")
        if value:
            assert value.startswith('"') and value.endswith('"'), line
    # staff edit the subject in place, keeping the quotes, and it stays whole
    path = campaign.path
    path.write_text(
        path.read_text().replace(f'subject: "{campaign.subject}"', f'subject: "{TYPED}"')
    )
    assert load_campaign(path).subject == TYPED


def test_a_hand_typed_subject_and_preheader_with_colons_are_read_as_typed(tmp_path: Path) -> None:
    preheader = "Three causes: posture, old injuries, sleep"
    path = campaign_file(tmp_path, f"subject: {TYPED}\npreheader: {preheader}\nstatus: draft\n")
    campaign = load_campaign(path)
    assert (campaign.subject, campaign.preheader, campaign.status) == (TYPED, preheader, "draft")


def test_a_preheader_written_over_two_lines_is_still_one(tmp_path: Path) -> None:
    """Drafts before this change wrapped long values onto an indented second line."""
    path = campaign_file(
        tmp_path,
        "subject: Balance and the neck\npreheader: Do you feel unsteady when you stand up\n"
        "  too quickly? Here is why.\nstatus: draft\n",
    )
    preheader = load_campaign(path).preheader
    assert preheader == "Do you feel unsteady when you stand up too quickly? Here is why."


def test_another_bad_line_is_an_error_naming_the_line_and_the_quotes(tmp_path: Path) -> None:
    path = campaign_file(
        tmp_path,
        "subject: Balance\npreheader: one\n\nstatus: draft\ncta:\n  text: Book now: free\n",
    )
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert f"{path}:7:" in caught.value.message  # the cta text line
    assert "quotes" in (caught.value.hint or "")


@pytest.mark.slow
def test_mailer_check_reports_the_line_without_a_traceback(
    mailer: Mailer, workspace: Workspace
) -> None:
    path = workspace.campaigns_dir / "2026-12-01-leg-pain.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        '---\nsubject: "Leg pain"\narticles:\n- title: Leg pain: why\n---\n\nText.\n',
        encoding="utf-8",
    )
    result = mailer("check", path.stem, process=True)
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr
    assert f"{path.name}:4:" in result.stderr + result.stdout  # the title line
    assert "quotes" in result.stderr + result.stdout
