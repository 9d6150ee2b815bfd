"""Writing the draft: the campaign file's name, front matter, and never losing a campaign."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mailer.campaigns.campaign import ArticleRef, load_campaign
from mailer.campaigns.draft import CallToAction, write_draft
from mailer.campaigns.slug import slugify
from tests.campaigns.test_draft_articles import digest_articles, headache_article

DAY = date(2026, 11, 24)
CTA = CallToAction("Book your free consultation", "https://www.summitspine.example/book")


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Why Headaches Start in the Neck", "why-headaches-start-in-the-neck"),
        (
            "Don’t Ignore That Tingling: Numbness & Your Neck",
            "dont-ignore-that-tingling-numbness-your-neck",
        ),
        ("Über die Halswirbelsäule — café edition", "uber-die-halswirbelsaule-cafe-edition"),
        ("!!!", "newsletter"),
    ],
)
def test_slug_is_lowercase_ascii_with_hyphens(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_long_slug_is_cut_at_a_hyphen() -> None:
    slug = slugify(
        "How the Upper Cervical Spine Affects Leg Pain and What Our Patients Do About It"
    )
    assert len(slug) <= 60
    assert slug == "how-the-upper-cervical-spine-affects-leg-pain-and-what-our"


def test_draft_file_front_matter_round_trips(tmp_path: Path) -> None:
    url = "https://www.summitspine.example/blog/headaches"
    campaign = write_draft([headache_article(url)], tmp_path, CTA, day=DAY)
    assert (
        campaign.path
        == tmp_path / "2026-11-24-why-headaches-start-in-the-neck-what-upper-cervical-care.md"
    )

    loaded = load_campaign(campaign.path)
    assert loaded.slug == campaign.slug == campaign.path.stem
    assert loaded.status == "draft"
    assert loaded.subject == "Why Headaches Start in the Neck"
    assert 90 <= len(loaded.preheader) <= 140
    assert loaded.articles == [
        ArticleRef("Why Headaches Start in the Neck: What Upper Cervical Care Looks For", url)
    ]
    assert loaded.cta == {"text": CTA.text, "url": CTA.url}
    assert loaded.body.strip() == campaign.body.strip()
    assert loaded.extra == {}


def test_digest_lists_every_article_and_names_them_in_the_subject(tmp_path: Path) -> None:
    campaign = write_draft(digest_articles(), tmp_path, CTA, day=DAY)
    assert campaign.path is not None
    loaded = load_campaign(campaign.path)
    # Issue 12 item 6: the first title, and the others by name where they fit
    assert loaded.subject == "Why Headaches Start in the Neck and 2 more"
    assert loaded.preheader == (
        "Also inside: Sleeping Positions That Are Kind to Your Neck and Meet Our New Front "
        "Desk Coordinator."
    )
    assert [(a.title, a.url) for a in loaded.articles] == [
        (a.title, a.url or "") for a in digest_articles()
    ]


def test_existing_campaign_is_never_overwritten(tmp_path: Path) -> None:
    article = headache_article()
    article.title = "Why Headaches Start in the Neck"
    first = write_draft([article], tmp_path, CTA, day=DAY)
    assert first.path is not None
    first.path.write_text(first.path.read_text() + "\nStaff edits.\n", encoding="utf-8")

    second = write_draft([article], tmp_path, CTA, day=DAY)
    third = write_draft([article], tmp_path, CTA, day=DAY)
    assert second.slug == "2026-11-24-why-headaches-start-in-the-neck-2"
    assert third.slug == "2026-11-24-why-headaches-start-in-the-neck-3"
    assert "Staff edits." in first.path.read_text(encoding="utf-8")


def test_failed_draft_leaves_no_empty_file(tmp_path: Path) -> None:
    article = headache_article()
    article.sections = None  # type: ignore[assignment]  # a broken importer result
    with pytest.raises(TypeError):
        write_draft([article], tmp_path, CTA, day=DAY)
    assert list(tmp_path.iterdir()) == []
