"""RSS 2.0 and Atom feeds from files: entries newest first, sanitized, each with a stable id."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from mailer.articles import (
    Image,
    ListBlock,
    Paragraph,
    Section,
    load_article,
    load_articles,
    load_feed,
)
from mailer.errors import ArticleError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"
RSS = FIXTURES / "summit-rss.xml"
ATOM = FIXTURES / "summit-atom.xml"


def test_rss_entries_newest_first_with_ids_links_and_dates() -> None:
    entries = load_feed(RSS)
    assert [(a.entry_id, a.date, a.url) for a in entries] == [
        (
            "summit-post-0003",
            date(2025, 2, 18),
            "https://www.summitspine.example/post/sleep-position-and-neck-pain",
        ),
        (
            "summit-post-0002",
            date(2025, 1, 21),
            "https://www.summitspine.example/post/posture-at-the-desk",
        ),
        (
            "summit-post-0001",
            date(2025, 1, 7),
            "https://www.summitspine.example/post/headaches-upper-neck",
        ),
    ]
    assert [a.title for a in entries] == [
        "Sleep Position and Neck Pain",
        "Posture at the Desk",
        "Why Headaches Can Start in the Upper Neck",
    ]


def test_rss_full_content_is_parsed_and_sanitized() -> None:
    newest = load_feed(RSS)[0]
    assert newest.summary == "How the way you sleep can keep your neck sore."
    assert newest.sections == [
        Section(None, [Paragraph("We spend about a third of our lives asleep.")]),
        Section(
            "Which positions are kindest",
            [
                ListBlock(["On your back", "On your side"]),
                Image("https://www.summitspine.example/media/pillow.jpg", "A pillow"),
                Paragraph("Try one change this week."),
            ],
        ),
    ]
    everything = repr(dataclasses.asdict(newest))
    for marker in ("rss-script-marker", "rss-pixel-marker", "rss-onclick-marker", "<"):
        assert marker not in everything


def test_an_entry_with_only_a_description_uses_it() -> None:
    oldest = load_feed(RSS)[-1]
    assert oldest.paragraphs == ["Many headaches begin at the base of the skull."]


def test_atom_entries_html_content_titles_and_order() -> None:
    entries = load_feed(ATOM)
    assert [a.title for a in entries] == [
        "Sitting & Standing at Work",
        "Vertigo and the Upper Neck",
    ]
    newest = entries[0]
    assert newest.entry_id == "urn:uuid:7f1c4d3a-0002-4c1a-8f00-000000000002"
    assert newest.date == date(2025, 3, 4)
    assert newest.url == "https://www.summitspine.example/post/sit-stand"
    assert newest.headings == ["Alternate through the day"]
    assert ListBlock(["Sit for forty minutes", "Stand for twenty"], ordered=True) in (
        newest.sections[0].blocks
    )
    assert "atom-iframe-marker" not in repr(newest)
    assert entries[1].paragraphs == ["When the room spins, the neck may be part of the story."]


def test_limit_and_the_single_article_entry_points() -> None:
    assert [a.entry_id for a in load_feed(RSS, limit=2)] == ["summit-post-0003", "summit-post-0002"]
    assert len(load_articles(RSS)) == 3
    assert load_article(RSS).entry_id == "summit-post-0003"


def test_feeds_are_sniffed_whatever_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "blog-feed"
    path.write_bytes(ATOM.read_bytes())
    assert load_articles(path)[0].title == "Sitting & Standing at Work"


def test_ids_fall_back_to_the_link(tmp_path: Path) -> None:
    path = tmp_path / "noguid.rss"
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>One</title><link>https://www.summitspine.example/post/one</link>"
        "<description>Text of one.</description></item></channel></rss>"
    )
    assert load_feed(path)[0].entry_id == "https://www.summitspine.example/post/one"


def test_not_a_feed_is_a_clear_error() -> None:
    with pytest.raises(ArticleError, match="not an RSS or Atom feed") as caught:
        load_feed(FIXTURES / "desk-posture.md")
    assert "desk-posture.md" in caught.value.message
    assert caught.value.hint


def test_an_empty_feed_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
    )
    with pytest.raises(ArticleError, match="has no entries"):
        load_articles(path)


def test_an_entry_heading_repeating_the_title_is_not_a_section(tmp_path: Path) -> None:
    path = tmp_path / "repeat.xml"
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
        "<title>Neck Pain at Night</title><guid>n1</guid>"
        "<description>&lt;h1&gt;Neck Pain at Night&lt;/h1&gt;&lt;p&gt;Body text.&lt;/p&gt;"
        "</description></item></channel></rss>"
    )
    entry = load_feed(path)[0]
    assert entry.headings == []
    assert entry.paragraphs == ["Body text."]
