"""A fresh draft renders as intended: the shortcodes it writes become the buttons it means."""

from __future__ import annotations

import pytest

from mailer.articles.model import Article
from mailer.campaigns.draft import CallToAction, write_draft
from mailer.campaigns.render import render_campaign
from mailer.workspace import Workspace
from tests.campaigns.test_draft_articles import digest_articles, headache_article

BOOK = "https://www.summitspine.example/book"


@pytest.mark.parametrize(
    ("articles", "places"),
    [
        ([headache_article("https://www.summitspine.example/blog/h")], ["cta-top", "read-more"]),
        ([headache_article()], ["cta-top"]),
        (digest_articles(), ["read-more", "cta-top", "read-more"]),
    ],
    ids=["teaser", "whole", "digest"],
)
def test_draft_renders_with_both_ctas_and_no_stray_markup(
    workspace: Workspace, articles: list[Article], places: list[str]
) -> None:
    campaign = write_draft(articles, workspace.campaigns_dir, CallToAction("Book now", BOOK))
    rendered = render_campaign(workspace, campaign)
    body_places = [link.place for link in rendered.links if link.place != "footer"]
    assert body_places == [*places, "cta-bottom"]
    assert "[[" not in rendered.html and "[[" not in rendered.text
    # escaped article text shows as written: a sentence is not turned into a list
    if articles[0].url is None:
        assert "1. is not a list here" in rendered.html
