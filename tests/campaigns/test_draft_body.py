"""The three shapes of a drafted body: teaser with a link, whole article, digest."""

from __future__ import annotations

import re

from mailer.campaigns.draft import compose_body
from mailer.config import DEFAULT_CLOSING_LINES
from tests.campaigns.test_draft_articles import INTRO, digest_articles, headache_article

URL = "https://www.summitspine.example/blog/headaches"
CTA = "[[cta]]"


def blocks(body: str) -> list[str]:
    return [block.strip() for block in body.strip().split("\n\n")]


def words(text: str) -> int:
    return len(text.split())


def assert_cta_after_opening_and_at_close(parts: list[str]) -> None:
    assert parts.count(CTA) == 2
    assert parts[-1] == CTA
    assert parts[-2].startswith("Have a question")  # the closing line just before it


def test_with_a_url_teaser_then_cta_contents_read_more_and_closing() -> None:
    parts = blocks(compose_body([headache_article(URL)]))
    assert parts[0] == "# Why Headaches Start in the Neck: What Upper Cervical Care Looks For"
    first_cta = parts.index(CTA)
    teaser = parts[1:first_cta]
    assert 120 <= sum(words(p) for p in teaser) <= 180
    assert teaser[-1].endswith(".")
    assert teaser[0] == " ".join(INTRO[0].split())
    after = parts[first_cta + 1 :]
    assert after[0] == "### In this article"
    assert after[1].splitlines() == [
        "- Why the top of the neck matters",
        "- What we check at your first visit",
        "- Three things to try this week",
    ]
    assert after[2] == f'[[button "Read the full article" {URL}]]'
    assert after[3] == DEFAULT_CLOSING_LINES[0]
    assert_cta_after_opening_and_at_close(parts)
    # the rest of the article stays on the website
    assert "Leg length" not in "\n".join(parts)


def test_without_a_url_the_whole_article_with_cta_after_the_opening() -> None:
    body = compose_body([headache_article()])
    parts = blocks(body)
    assert "[[button" not in body
    # the opening: the first two paragraphs, then the call to action
    assert parts[1:4] == [" ".join(INTRO[0].split()), " ".join(INTRO[1].split()), CTA]
    assert "## Why the top of the neck matters" in parts
    assert "- Tight muscles at the base of the skull\n- Reduced range of motion" in parts
    assert "1. Posture and head tilt\n2. Leg length\n3. Precise imaging" in parts
    assert "![The atlas and axis](https://www.summitspine.example/img/atlas.png)" in parts
    # a sentence that starts like a numbered list does not become one
    assert "1\\. is not a list here: it is a sentence about step one. Rest your eyes." in parts
    assert_cta_after_opening_and_at_close(parts)


def test_short_article_without_url_still_has_two_ctas_around_the_closing() -> None:
    article = headache_article()
    article.sections = article.sections[:1]
    article.sections[0].blocks = article.sections[0].blocks[:1]
    parts = blocks(compose_body([article]))
    assert parts[2] == CTA
    assert_cta_after_opening_and_at_close(parts)


def test_digest_features_the_first_and_lists_the_rest() -> None:
    body = compose_body(digest_articles())
    parts = blocks(body)
    assert parts[0].startswith("# Why Headaches Start in the Neck")
    first_cta = parts.index(CTA)
    assert parts[first_cta - 1] == f'[[button "Read the full article" {URL}]]'
    assert 120 <= sum(words(p) for p in parts[1 : first_cta - 1]) <= 180
    assert parts[first_cta + 1] == "## More from the blog"
    entries = parts[first_cta + 2 : -2]
    assert entries == [
        "### Sleeping Positions That Are Kind to Your Neck",
        "Back sleeping keeps the neck in line with the spine. Side sleeping works too, with a "
        "pillow that fills the space above the shoulder.",
        '[[button "Read more" https://www.summitspine.example/blog/sleep]]',
        "### Meet Our New Front Desk Coordinator",
        "Dana joined the clinic this month. She will help you find a visit time that works.",
    ]
    assert_cta_after_opening_and_at_close(parts)


def test_shortcode_lines_are_only_the_ones_we_put_there() -> None:
    article = headache_article(URL)
    article.sections[0].blocks[0].text = "[[cta]]"  # type: ignore[union-attr]
    body = compose_body([article])
    shortcodes = re.findall(r"^\[\[.*\]\]$", body, re.MULTILINE)
    assert shortcodes == [CTA, f'[[button "Read the full article" {URL}]]', CTA]
