"""Markdown articles, with and without front matter."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mailer.articles import Image, ListBlock, Paragraph, Section, load_article
from mailer.errors import ArticleError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"


def test_front_matter_gives_title_url_date_summary_and_image() -> None:
    article = load_article(FIXTURES / "sleep-position.md")
    assert article.title == "Sleep Position and Neck Pain"
    assert article.url == "https://www.summitspine.example/post/sleep-position-and-neck-pain"
    assert article.date == date(2025, 2, 18)
    assert article.summary.startswith("How the way you sleep can keep your neck sore")
    assert article.image == Image(
        "https://www.summitspine.example/media/pillow.jpg", "A supportive pillow on a made bed"
    )


def test_headings_lists_images_and_plain_text() -> None:
    article = load_article(FIXTURES / "sleep-position.md")
    assert article.headings == [
        "Which positions are kindest to the neck",
        "Three changes to try this week",
    ]
    intro, positions, changes = article.sections
    assert intro.heading is None
    # Inline markup is dropped; link texts are kept.
    assert intro.blocks == [
        Paragraph(
            "We spend about a third of our lives asleep. For those hours the neck holds one "
            "position, and if that position is a poor one, the morning stiffness follows."
        )
    ]
    assert positions.blocks == [
        ListBlock(
            [
                "Sleeping on your back, with a thin pillow",
                "Sleeping on your side, with a pillow that fills the gap to the shoulder",
                "Not sleeping face down",
            ]
        ),
        Image(
            "https://www.summitspine.example/media/side-sleeper.jpg",
            "A side sleeper with a supportive pillow",
        ),
    ]
    assert changes.blocks[0] == ListBlock(
        [
            "Check the height of your pillow",
            "Put a pillow between your knees",
            "Keep your phone out of the bed",
        ],
        ordered=True,
    )


def test_without_front_matter_the_first_h1_is_the_title() -> None:
    article = load_article(FIXTURES / "desk-posture.md", url="https://www.summitspine.example/d")
    assert article.title == "Posture at the Desk"
    assert article.url == "https://www.summitspine.example/d"
    assert article.date is None
    assert article.headings == ["The screen", "The chair"]
    assert article.sections[0] == Section(
        None,
        [
            Paragraph(
                "Most of our patients work at a computer. Here is how to set up a desk that your "
                "neck will thank you for."
            )
        ],
    )
    assert article.sections[-1].blocks == [
        ListBlock(["Feet flat on the floor", "Hips a little higher than the knees"])
    ]


def test_front_matter_title_wins_and_a_different_h1_stays_a_section(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\ntitle: Chosen Title\n---\n# Other Heading\n\nSome text here.\n")
    article = load_article(path)
    assert article.title == "Chosen Title"
    assert article.headings == ["Other Heading"]


def test_a_nested_list_stays_under_its_item(tmp_path: Path) -> None:
    """Issue 12 item 1: steps keep their numbers and their bullets, in Markdown too."""
    path = tmp_path / "nested.md"
    path.write_text(
        "# T\n\nIntro.\n\n3. one\n   - one point five\n4. two\n\n## Part\n\nText.\n\n"
        "#### Under part\n\nMore text.\n"
    )
    article = load_article(path)
    assert article.sections[0].blocks[1] == ListBlock(
        ["one", "two"], ordered=True, start=3, nested={0: ListBlock(["one point five"])}
    )
    assert [(s.heading, s.level) for s in article.sections[1:]] == [
        ("Part", 1),
        ("Under part", 2),
    ]


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        ("date: not a date", "date: 'not a date' is not a date"),
        ("title: [unclosed", "not valid YAML"),
    ],
)
def test_bad_front_matter_is_a_clear_error(tmp_path: Path, front: str, expected: str) -> None:
    path = tmp_path / "bad.md"
    path.write_text(f"---\n{front}\n---\n\nSome text.\n")
    with pytest.raises(ArticleError) as caught:
        load_article(path)
    assert str(path) in caught.value.message
    assert expected in caught.value.message
    assert caught.value.hint
