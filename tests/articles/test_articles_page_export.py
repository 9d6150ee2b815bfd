"""Page exports: a blog page's text with its furniture removed and its structure read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.articles import Article, ListBlock, Paragraph, load_article
from mailer.articles.page_export import parse_page_export

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"


@pytest.fixture(scope="module")
def article() -> Article:
    return load_article(FIXTURES / "headaches-upper-neck.txt")


def all_text(article: Article) -> str:
    return repr(article)


def lists(article: Article) -> list[ListBlock]:
    return [b for s in article.sections for b in s.blocks if isinstance(b, ListBlock)]


def test_title_is_the_first_line_and_is_not_repeated(article: Article) -> None:
    assert article.title == "Why Headaches Can Start in the Upper Neck"
    assert article.headings.count(article.title) == 0
    assert article.sections[0].heading is None
    assert article.paragraphs[0].startswith("Do you reach for a painkiller most afternoons?")


def test_headings_are_found_exactly(article: Article) -> None:
    assert article.headings == [
        "What Is a Cervicogenic Headache?",
        "Signs That Your Headache Comes From Your Neck",
        "Common Triggers",
        "Old injuries",
        "Desk posture",
        "Poor sleep",
        "What You Can Try at Home",
        "Our Approach at Summit",
    ]


def test_bulleted_numbered_emoji_and_bare_lists(article: Article) -> None:
    bullets, numbered, emoji, questions = lists(article)
    assert bullets == ListBlock(
        [
            "Pain that starts at the back of the head and moves forward",
            "Stiffness when you turn your head to one side",
            "Headaches that get worse after long hours at a screen",
            "Relief when you press on the base of the skull",
        ],
        ordered=False,
    )
    assert numbered == ListBlock(
        [
            "Set your screen at eye level so your chin stays level.",
            "Take a two-minute movement break every half hour.",
            "Drink water through the day; dehydration makes every headache worse.",
        ],
        ordered=True,
    )
    assert emoji.items == [
        "A gentle, precise correction with no twisting or popping",
        "Imaging to measure the exact position of the atlas",
        "Follow-up checks to see that the correction holds",
    ]
    assert questions.items == ["Is it safe?", "Does it hurt?", "How many visits will I need?"]


@pytest.mark.parametrize(
    "furniture",
    [
        "top of page",
        "bottom of page",
        "Updated",
        "Mar 3",
        "12 views",
        "0 comments",
        "3 likes",
        "Post not marked as liked",
        "Book Now",
        "Free Consultation",
        "Schedule Online",
        "Notice of Disclaimer",
        "not your doctors",
    ],
)
def test_page_furniture_is_gone(article: Article, furniture: str) -> None:
    assert furniture not in all_text(article)


def test_the_articles_own_closing_paragraph_is_kept(article: Article) -> None:
    assert article.paragraphs[-1].startswith("Headaches are common, but they are not normal.")
    assert article.paragraphs[-1].endswith("the missing piece of the puzzle.")


def test_a_caption_between_headings_goes(article: Article) -> None:
    """Issue 12 item 5: an image's caption, with no image in the export, is no orphan text."""
    poor_sleep = next(s for s in article.sections if s.heading == "Poor sleep")
    assert poor_sleep.blocks == [
        Paragraph(
            "A pillow that is too high or too flat keeps the neck bent all night, and the "
            "morning headache follows."
        )
    ]
    assert "The atlas sits right where the skull meets the spine" not in all_text(article)


def test_typography_is_normalized(article: Article) -> None:
    text = all_text(article)
    for odd in ("\u00a0", "\u2019", "\u201c", "\u201d", "  "):
        assert odd not in text
    assert "You're not alone. Many of the people" in article.paragraphs[0]
    assert 'why the "neck headache" is so common' in article.paragraphs[0]


def test_summary_defaults_to_the_first_paragraph(article: Article) -> None:
    assert article.summary == article.paragraphs[0]


def test_check_marks_and_arrows_with_variation_selectors_are_bullets() -> None:
    text = "Title Here\n\nIntro paragraph that says something.\n\n✔️ First\n✔️ Second\n➡️ Third\n"
    article = parse_page_export(text)
    assert lists(article) == [ListBlock(["First", "Second", "Third"])]


def test_dash_and_star_bullets_and_parenthesized_numbers() -> None:
    text = (
        "Title Here\n\nIntro paragraph.\n\n- one\n- two\n\nAnother paragraph.\n\n* three\n"
        "\nLast paragraph.\n\n(1) first\n(2) second\n\nThe end of it all."
    )
    article = parse_page_export(text)
    assert lists(article) == [
        ListBlock(["one", "two"]),
        ListBlock(["three"]),
        ListBlock(["first", "second"], ordered=True),
    ]


def test_question_headings_in_title_case_but_not_sentence_questions() -> None:
    text = (
        "Sleep and Your Neck\n\nIs Your Pillow the Problem?\n\nA pillow that is too high bends "
        "the neck all night.\n\nDo you wake up stiff?\n\nMany people do, and it helps to know why."
    )
    article = parse_page_export(text)
    assert article.headings == ["Is Your Pillow the Problem?"]
    assert "Do you wake up stiff?" in article.paragraphs


def test_a_title_that_is_a_sentence_falls_back_to_the_file_name() -> None:
    text = "This article starts straight away with a long sentence about necks and pillows."
    article = parse_page_export(text, name="/tmp/sleep-and-pillows.txt")
    assert article.title == "Sleep and pillows"
    assert article.paragraphs == [text]


def test_headings_that_look_like_text_are_not_cut_as_furniture() -> None:
    text = (
        "A Title\n\nIntro paragraph here.\n\nPublished Research on Neck Pain\n\n"
        "Several studies have looked at this.\n\nMay 2\n\nLast paragraph here."
    )
    article = parse_page_export(text)
    assert article.headings == ["Published Research on Neck Pain"]
    assert "May 2" not in repr(article)
