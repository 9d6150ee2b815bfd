"""Articles written for the draft tests, in the voice of Summit Upper Cervical Chiropractic.

Other test_draft_* modules import these builders; the one test here keeps them fit for purpose.
"""

from __future__ import annotations

import copy

from mailer.articles.model import Article, Image, ListBlock, Paragraph, Section

INTRO = [
    "Most people who come to see us with headaches have tried everything they can think of. "
    "They have changed pillows, cut back on coffee and bought a new office chair. "
    "Some of them have kept a headache diary for months. "
    "What almost none of them have looked at is the top of the neck, where the skull rests "
    "on two small bones.",
    "Those two bones, the atlas and the axis, carry the weight of your head all day long. "
    "When one of them shifts even a little, the muscles around it tighten to protect the area. "
    "Over weeks and months that tension can pull on the base of the skull. "
    "Many of our patients describe the result as a band of pressure that starts at the back "
    "of the head and wraps around to the temples.",
    "In this article we explain how that happens, what we look for at your first visit, and "
    "what you can do at home this week. None of it replaces a visit to your own doctor, "
    "especially if a headache is sudden or severe. Our aim is simply to help you understand "
    "one cause that is often missed, so you can ask better questions about your own care.",
]

SECTIONS = [
    Section(None, [Paragraph(text) for text in INTRO]),
    Section(
        "Why the top of the neck matters",
        [
            Paragraph(
                "The upper neck sits right beside the brainstem. Small changes in alignment "
                "affect how the muscles and nerves of the whole neck behave."
            ),
            ListBlock(["Tight muscles at the base of the skull", "Reduced range of motion"]),
        ],
    ),
    Section(
        "What we check at your first visit",
        [
            Paragraph("We start with a conversation about your history, then a gentle exam."),
            ListBlock(["Posture and head tilt", "Leg length", "Precise imaging"], ordered=True),
            Image("https://www.summitspine.example/img/atlas.png", "The atlas and axis"),
        ],
    ),
    Section(
        "Three things to try this week",
        [Paragraph("1. is not a list here: it is a sentence about step one. Rest your eyes.")],
    ),
]


def headache_article(url: str | None = None) -> Article:
    return Article(
        title="Why Headaches Start in the Neck: What Upper Cervical Care Looks For",
        url=url,
        summary="How a small shift at the top of the neck can lead to tension headaches.",
        sections=copy.deepcopy(SECTIONS),  # tests may change their copy
    )


def short_article(title: str, url: str | None, text: str) -> Article:
    return Article(title=title, url=url, sections=[Section(None, [Paragraph(text)])])


def digest_articles() -> list[Article]:
    return [
        headache_article("https://www.summitspine.example/blog/headaches"),
        short_article(
            "Sleeping Positions That Are Kind to Your Neck",
            "https://www.summitspine.example/blog/sleep",
            "Back sleeping keeps the neck in line with the spine. Side sleeping works too, with "
            "a pillow that fills the space above the shoulder. Stomach sleeping twists the neck "
            "for hours, so we suggest easing out of it.",
        ),
        short_article(
            "Meet Our New Front Desk Coordinator",
            None,
            "Dana joined the clinic this month. She will help you find a visit time that works.",
        ),
    ]


def test_the_sample_opening_is_longer_than_a_teaser() -> None:
    # The teaser tests mean something only if there is more opening than a teaser may take.
    assert sum(len(text.split()) for text in INTRO) > 180
