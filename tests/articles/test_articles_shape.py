"""Issue 12: an article's shape survives import, not only its words.

Numbered steps keep their numbers and the bullets written under them, in every layout a page
export has; sub-headings stay below their section; an image caption is no orphan paragraph.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.articles import Article, Image, ListBlock, Paragraph, load_article
from mailer.articles.html_blocks import html_to_sections
from mailer.articles.page_export import parse_page_export

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"

STEPS = ListBlock(
    ["How Posture Shifts Your Balance", "Why Nerves Matter for the Joint", "A Quick Check"],
    ordered=True,
    nested={
        0: ListBlock(
            [
                "When the neck is out of line, the head drifts forward",
                "Over months this can change the way you walk",
            ]
        ),
        1: ListBlock(["The brainstem passes right through the top of the neck"]),
        2: ListBlock(["Stand with your feet together and your eyes closed"]),
    },
)

INDENTED = """\
  1. How Posture Shifts Your Balance
    • When the neck is out of line, the head drifts forward
    • Over months this can change the way you walk
  2. Why Nerves Matter for the Joint
    • The brainstem passes right through the top of the neck
  3. A Quick Check
    • Stand with your feet together and your eyes closed
"""
BLANK_LINES = INDENTED.replace("\n", "\n\n")
MARGIN = """\
1. How Posture Shifts Your Balance
  - When the neck is out of line, the head drifts forward
  - Over months this can change the way you walk
2. Why Nerves Matter for the Joint
  - The brainstem passes right through the top of the neck
3. A Quick Check
  - Stand with your feet together and your eyes closed
"""
FLUSH = MARGIN.replace("  - ", "• ")  # nothing indented: the last step's bullets still nest


def export(steps: str) -> str:
    return (
        "Balance and Your Upper Neck\n\nUpdated: Apr 14\n\n"
        "Balance depends on more than your ears. Here are the three things we look at.\n\n"
        f"Three Things We Look At\n\n{steps}\n"
        "Write down what you notice and bring it to your next visit.\n\nbottom of page\n"
    )


def lists(article: Article) -> list[ListBlock]:
    return [b for s in article.sections for b in s.blocks if isinstance(b, ListBlock)]


@pytest.mark.parametrize(
    "steps",
    [INDENTED, BLANK_LINES, MARGIN, FLUSH],
    ids=["indented", "blank-lines", "number-at-margin", "flush-left"],
)
def test_numbered_steps_keep_numbers_and_their_bullets(steps: str) -> None:
    """Issue 12 item 1: one numbered list, each step carrying its bullets nested."""
    article = parse_page_export(export(steps))
    assert lists(article) == [STEPS]
    section = article.sections[-1]
    assert section.heading == "Three Things We Look At"
    assert section.blocks[-1] == Paragraph(
        "Write down what you notice and bring it to your next visit."
    )


def test_bullets_after_plain_steps_are_a_list_of_their_own() -> None:
    """Bullets at the steps' own depth, after the last step only, belong to no step."""
    text = export("1. Raise the screen\n2. Lower the chair\n• A stand\n• A cushion\n")
    assert lists(parse_page_export(text)) == [
        ListBlock(["Raise the screen", "Lower the chair"], ordered=True),
        ListBlock(["A stand", "A cushion"]),
    ]


def test_steps_interrupted_by_text_keep_counting() -> None:
    """Issue 12 item 1: "2." stays 2 when a paragraph sits between the steps."""
    text = export(
        "1. Check Your Pillow\nA pillow should keep your nose in line with your chest.\n"
        "2. Check Your Mattress\nYour hips should not sink below your shoulders.\n"
    )
    numbered = lists(parse_page_export(text))
    assert [(block.items, block.start) for block in numbered] == [
        (["Check Your Pillow"], 1),
        (["Check Your Mattress"], 2),
    ]


def test_emoji_bullets_under_steps_written_with_blank_lines() -> None:
    """Issue 12 item 1: the fixture's evening routine, emoji bullets under each step."""
    article = load_article(FIXTURES / "sleep-stiff-neck.txt")
    routine = next(s for s in article.sections if s.heading == "Your Evening Routine, Step by Step")
    steps = routine.blocks[0]
    assert isinstance(steps, ListBlock) and steps.ordered
    assert steps.items == ["Set the Scene", "Check Your Pillow", "Settle Into Position"]
    assert steps.nested[2] == ListBlock(
        ["On your back or your side, never face down", "Keep your arms below the level of your "
         "shoulders"]
    )  # fmt: skip
    assert len(routine.blocks) == 3  # the steps and the two paragraphs after them, nothing loose


def test_sub_headings_sit_below_their_section() -> None:
    """Issue 12 item 5: sentence-case headings under a Title Case one are its sub-sections."""
    article = load_article(FIXTURES / "balance-upper-neck.txt")
    assert [(s.heading, s.level) for s in article.sections if s.heading] == [
        ("Why Balance Starts in the Neck", 1),
        ("Position sensors", 2),
        ("Nerve pathways", 2),
        ("How Your Upper Neck Affects Your Balance", 1),
        ("Three Things to Watch For at Home", 1),
    ]


def test_an_articles_sentence_case_headings_are_all_sections() -> None:
    text = (
        "Sleep and the neck\n\nA short intro that says something.\n\nPillow height\n\n"
        "Keep your nose in line with your chest.\n\nMattress firmness\n\nNo sagging middle.\n"
    )
    article = parse_page_export(text)
    assert [s.level for s in article.sections if s.heading] == [1, 1]


def test_a_caption_left_without_its_image_goes() -> None:
    """Issue 12 item 5: the caption line of the export is not kept as a sentence."""
    article = load_article(FIXTURES / "balance-upper-neck.txt")
    assert "A side view of the atlas" not in repr(article)
    pathways = next(s for s in article.sections if s.heading == "Nerve pathways")
    assert pathways.blocks == [
        Paragraph(
            "Those signals travel through the brainstem, which sits just inside the ring of "
            "the atlas."
        )
    ]


def test_html_keeps_nested_lists_numbers_levels_and_attaches_captions() -> None:
    """Issue 12 items 1 and 5, for HTML pages and feed entries."""
    html = (
        "<h2>Your Desk</h2><p>Start here.</p>"
        '<figure><img src="https://www.summitspine.example/img/desk.jpg">'
        "<figcaption>A screen at eye level</figcaption></figure>"
        "<h3>Step by step</h3>"
        '<ol start="2"><li>Raise the screen<ul><li>Top line at eye level</li></ul></li>'
        "<li>Plant your feet</li></ol>"
    )
    desk, steps = html_to_sections(html)
    assert (desk.heading, desk.level, steps.heading, steps.level) == (
        "Your Desk",
        1,
        "Step by step",
        2,
    )
    assert desk.blocks == [
        Paragraph("Start here."),
        Image("https://www.summitspine.example/img/desk.jpg", "A screen at eye level"),
    ]
    assert steps.blocks == [
        ListBlock(
            ["Raise the screen", "Plant your feet"],
            ordered=True,
            start=2,
            nested={0: ListBlock(["Top line at eye level"])},
        )
    ]
