"""Subject lines, preheaders, teasers and escaping: the words a subscriber sees first."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mailer.articles.model import ListBlock
from mailer.campaigns.markdown import escape_inline
from mailer.campaigns.subject import make_preheader, shorten_subject
from mailer.campaigns.teaser import make_summary, make_teaser
from mailer.campaigns.text import sentences, squash
from tests.campaigns.test_draft_articles import INTRO

SUBJECTS = [
    # short titles stay as they are
    ("Why Headaches Start in the Neck", "Why Headaches Start in the Neck"),
    # a trailing clause after ":" goes first
    (
        "Why Headaches Start in the Neck: What Upper Cervical Care Looks For and Why",
        "Why Headaches Start in the Neck",
    ),
    # ... or after " - "
    (
        "Sleeping Positions That Are Kind to Your Neck - A Guide for Side Sleepers",
        "Sleeping Positions That Are Kind to Your Neck",
    ),
    # a question keeps its question mark
    (
        "Is Your Pillow Behind Your Morning Stiffness? What Our Patients Found Out",
        "Is Your Pillow Behind Your Morning Stiffness?",
    ),
    # a parenthesis goes
    (
        "How the Upper Cervical Spine Affects Leg Pain (and What You Can Do About It Today)",
        "How the Upper Cervical Spine Affects Leg Pain",
    ),
    # a head too short to stand alone is kept, the rest cut at a word with an ellipsis
    (
        "FAQ: Everything New Patients Ask About Their First Upper Cervical Visit With Us",
        "FAQ: Everything New Patients Ask About Their First Upper…",
    ),
    # no dangling "and" / "of" before the ellipsis
    (
        "Tension Headaches, Migraines, Dizziness and Vertigo and the Alignment of the Atlas",
        "Tension Headaches, Migraines, Dizziness and Vertigo…",
    ),
    (
        "Understanding the Surprising Connection Between Posture and the Health of Your Spine",
        "Understanding the Surprising Connection Between Posture…",
    ),
]


@pytest.mark.parametrize(("title", "expected"), SUBJECTS)
def test_subject_is_shortened_with_sense(title: str, expected: str) -> None:
    subject = shorten_subject(title)
    assert subject == expected
    assert len(subject) <= 60


@pytest.mark.parametrize("title", [title for title, _ in SUBJECTS])
def test_subject_never_cuts_a_word(title: str) -> None:
    words = set(re.findall(r"[\w']+", title))
    assert all(word in words for word in re.findall(r"[\w']+", shorten_subject(title)))


def test_subject_of_one_endless_word_still_fits() -> None:
    assert len(shorten_subject("Upper" + "cervical" * 20)) <= 60


def test_preheader_is_the_opening_cut_between_90_and_140_characters() -> None:
    preheader = make_preheader(INTRO)
    assert 90 <= len(preheader) <= 140
    assert squash(INTRO[0]).startswith(preheader.removesuffix("…"))
    # whole sentences when they fit, else a cut at a word that the original also has
    last_word = preheader.removesuffix("…").rsplit(" ", 1)[-1]
    assert last_word in squash(INTRO[0]).split()


def test_preheader_from_short_sentences_gathers_enough() -> None:
    preheader = make_preheader(["We are open late on Thursdays.", "Bring a friend. " * 10])
    assert preheader.startswith("We are open late on Thursdays. Bring a friend.")
    assert 90 <= len(preheader) <= 140


def test_preheader_falls_back_to_the_summary() -> None:
    assert make_preheader([], "A short summary.") == "A short summary."


def test_teaser_is_120_to_180_words_ending_at_a_sentence() -> None:
    teaser = make_teaser(INTRO)
    words = sum(len(p.split()) for p in teaser)
    assert 120 <= words <= 180
    assert teaser[-1].endswith((".", "?", "!"))
    # it is the opening, in order, paragraph by paragraph
    assert teaser[0] == squash(INTRO[0])
    assert squash(INTRO[len(teaser) - 1]).startswith(teaser[-1])


def test_teaser_cuts_inside_a_paragraph_at_a_sentence_end() -> None:
    sentence = "Our adjustments are gentle and precise, with no twisting or popping at all. "
    teaser = make_teaser([sentence * 30])
    assert len(teaser) == 1
    assert 120 <= len(teaser[0].split()) <= 180
    assert teaser[0].endswith("at all.")


def test_teaser_of_a_short_article_is_all_of_it() -> None:
    assert make_teaser(["Short and sweet.", "Two lines."]) == ["Short and sweet.", "Two lines."]


def test_summary_is_one_or_two_whole_sentences() -> None:
    text = "Back sleeping keeps the neck in line. Side sleeping works too. Stomach sleeping hurts."
    assert make_summary(text) == "Back sleeping keeps the neck in line. Side sleeping works too."


def test_sentences_do_not_split_after_titles_and_initials() -> None:
    text = "Dr. Ramos trained with the C. S. Blair method. Book with her, e.g. on Tuesdays."
    assert sentences(text) == [
        "Dr. Ramos trained with the C. S. Blair method.",
        "Book with her, e.g. on Tuesdays.",
    ]


_COMMONMARK = MarkdownIt("commonmark")
_GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_PIECES = [*"ab 1.)-*_+#>[]<`\\&;!()~|=:x9/\"'", "[[cta]]", "&amp;", "https://x.example", "1. "]


def assert_renders_as_written(text: str) -> None:
    expected = squash(text)
    if not expected:
        return
    for renderer in (_COMMONMARK, _GFM):
        rendered = renderer.render(escape_inline(text))
        match = re.fullmatch(r"<p>(.*)</p>\n", rendered, re.S)
        assert match, (text, rendered)  # one paragraph: no heading, list, quote or rule
        assert "<" not in match[1], (text, rendered)  # no emphasis, link, code or html
        assert html.unescape(match[1]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1. is a sentence here, not a list",
        "2) neither is this",
        "- dashes -- and -- more",
        "-- -",
        "# 1 reason: posture",
        "> not a quote",
        "*Important*: rest _today_, not snake_case",
        "[[cta]] or [a link](https://x.example) or <b>bold</b> or `code`",
        "Fees &amp; hours, AT&T, ~~struck~~ and | pipes |",
        "C:\\back\\slash\\",
    ],
)
def test_tricky_text_renders_as_written(text: str) -> None:
    assert_renders_as_written(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_escaped_text_renders_as_written(text: str) -> None:
    assert_renders_as_written(text)


def test_text_that_looks_like_a_shortcode_is_not_one() -> None:
    assert escape_inline("[[cta]]") != "[[cta]]"
    assert not escape_inline('[[button "Free" https://x.example]]').startswith("[[")


def test_teaser_does_not_end_on_a_lead_in_to_a_list() -> None:
    opening = "Leg pain has many causes, and most of them are easy to name. " * 9
    lead_in = "Strains are common after a long hike or a game of soccer. The usual causes include:"
    too_long = ListBlock(["A twisted ankle on a trail that was steeper than it looked"] * 6)
    teaser = make_teaser([opening, lead_in, too_long, "Pinched nerves are another cause. " * 10])
    assert teaser[-1] == "Strains are common after a long hike or a game of soccer."


_TITLE_WORDS = ["Neck", "Pain", "and", "of", "the", "Posture:", "Why", "-", "Sleep?", "Upper",
                "Cervical", "(Part", "2)", "Headaches,", "Vertigo", "Chiropractic"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TITLE_WORDS), min_size=1, max_size=25).map(" ".join))
def test_any_subject_fits_and_keeps_whole_words(title: str) -> None:
    subject = shorten_subject(title)
    assert len(subject) <= 60
    assert set(subject.removesuffix("…").split()) <= set(title.split()) | {
        w.rstrip(",:;-") for w in title.split()
    }
    if subject != title:  # a shortened subject does not end on a dangling word
        assert subject.removesuffix("…").split()[-1].lower() not in {"and", "of", "the", "-"}
