"""HTML pages: main content only, and nothing active or tracking survives."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from mailer.articles import Article, Image, ListBlock, Paragraph, Section, load_article
from mailer.articles.html_blocks import html_to_sections
from mailer.articles.sanitize import is_tracker_image

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"


@pytest.fixture(scope="module")
def article() -> Article:
    return load_article(FIXTURES / "hostile.html")


def every_string(article: Article) -> str:
    return repr(dataclasses.asdict(article))


def test_metadata_title_canonical_url_and_date(article: Article) -> None:
    assert article.title == "Posture at the Desk"
    assert article.url == "https://www.summitspine.example/post/posture-at-the-desk"
    assert article.date == date(2025, 1, 21)
    assert article.summary == "Small changes to your desk that take load off the upper neck."


def test_main_content_keeps_headings_lists_and_the_real_image(article: Article) -> None:
    assert article.headings == ["Set the screen at eye level", "Move every half hour"]
    blocks = [block for section in article.sections for block in section.blocks]
    assert (
        ListBlock(
            [
                "Raise a laptop on a stand and use a separate keyboard",
                "Keep the screen straight in front of you, not off to one side",
            ]
        )
        in blocks
    )
    assert (
        ListBlock(
            [
                "Stand up and walk to the window",
                "Roll your shoulders back five times",
                "Turn your head slowly left and right",
            ],
            ordered=True,
        )
        in blocks
    )
    images = [block for block in blocks if isinstance(block, Image)]
    assert images == [
        Image(
            "https://www.summitspine.example/media/desk.jpg", "A desk with the screen at eye level"
        )
    ]
    assert article.image == images[0]
    assert article.paragraphs[-1].startswith("If your neck still aches at the end of the day")


@pytest.mark.parametrize(
    "marker",
    [
        "script-should-vanish",
        "WRITTEN_BY_SCRIPT",
        "STYLE_MARKER",
        "bodyOnloadMarker",
        "onclickMarker",
        "mouseoverMarker",
        "onerrorMarker",
        "iframe-marker",
        "IFRAME_TEXT_MARKER",
        "form-marker",
        "FORM_LABEL_MARKER",
        "FORM_VALUE_MARKER",
        "FORM_BUTTON_MARKER",
        "js-link-marker",
        "javascript:",
        "pixel-marker",
        "fb-marker",
        "facebook.com",
        "noscript-marker",
        "tracker-marker",
        "NAV_MARKER",
        "FOOTER_MARKER",
    ],
)
def test_nothing_active_hidden_or_tracking_survives(article: Article, marker: str) -> None:
    assert marker not in every_string(article)


def test_fragments_lose_scripts_handlers_and_pixels() -> None:
    sections = html_to_sections(
        '<p onclick="x()">Text <script>bad()</script></p>'
        '<img src="/img/a.jpg" alt="A" onerror="y()">'
        '<img src="https://cdn.example/p.gif" width="1" height="1">'
        '<img src="data:image/gif;base64,R0lGOD">'
        '<iframe src="https://x.example/">inside</iframe>',
        base_url="https://www.summitspine.example/post/x",
    )
    assert sections == [
        Section(None, [Paragraph("Text"), Image("https://www.summitspine.example/img/a.jpg", "A")])
    ]


@pytest.mark.parametrize(
    ("src", "width", "height", "tracker"),
    [
        ("https://www.summitspine.example/media/desk.jpg", None, None, False),
        ("https://www.summitspine.example/media/desk.jpg", "600", "400", False),
        ("https://cdn.example/x.gif", "1", "1", True),
        ("https://cdn.example/x.gif", "0", None, True),
        ("https://www.google-analytics.com/collect?v=1", None, None, True),
        ("https://www.facebook.com/tr?id=1", None, None, True),
        ("https://mail.example/open/pixel.gif", None, None, True),
    ],
)
def test_tracker_images(src: str, width: str | None, height: str | None, tracker: bool) -> None:
    assert is_tracker_image(src, width, height) is tracker


def test_a_page_without_article_text_is_refused(tmp_path: Path) -> None:
    from mailer.errors import ArticleError

    path = tmp_path / "empty-page.html"
    path.write_text(
        "<html><head><title>Home</title><script>var x = 1;</script></head>"
        "<body><nav><a href='/'>Home</a></nav></body></html>"
    )
    with pytest.raises(ArticleError, match="no article text") as caught:
        load_article(path)
    assert str(path) in caught.value.message
