"""Issue 14 items 3-4: the results pages' series agree with `mailer report` after real clicks
through /c/ links; the trends list the last issues side by side."""

from __future__ import annotations

import httpx
import pytest

from mailer.delivery.report import campaign_report
from mailer.delivery.results import ArticleRef, campaign_results, clicks_per_place, trends
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def click(url: str) -> None:
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code in (302, 303, 307), answer.status_code


def test_series_add_up_to_the_report_after_real_clicks(sent: Sent) -> None:
    ana, ben = sorted(sent.ids)[:2]
    ana_links, ben_links = sent.click_urls(ana), sent.click_urls(ben)
    for url in (ana_links[0], ana_links[0], ana_links[1], ben_links[-1]):
        click(url)
    article = ArticleRef(
        "Sleep position and neck pain", "https://www.summitspine.example/blog/sleep"
    )

    results = campaign_results(sent.sessions, sent.slug, "outbox", [article])
    report = campaign_report(sent.sessions, sent.slug, "outbox")
    assert results is not None and report is not None
    assert results.report == report, "the page's figures are the report's, from the same code"
    assert report.clicks == 4
    assert sum(results.clicks_by_day) == report.clicks and results.clicks_by_day[0] == 4
    assert len(results.clicks_by_day) == 7
    assert dict(clicks_per_place(results)) == report.clicks_by_place
    read_more = sum(
        row["clicks"] for row in report.clicks_by_link if "blog/sleep" in str(row["url"])
    )
    assert results.clicks_by_article == [
        {"title": article.title, "url": article.url, "clicks": read_more}
    ]
    place_of = {int(row["index"]): str(row["place"]) for row in report.clicks_by_link}
    clicked = {ana: ana_links[:2], ben: ben_links[-1:]}
    cta_people = {
        person
        for person, urls in clicked.items()
        if any(place_of[int(url.rsplit(".", 1)[1])].startswith("cta") for url in urls)
    }
    assert cta_people, "the test clicks at least one booking button"
    assert results.cta_clickers == len(cta_people)
    assert results.rates["click_rate"] == pytest.approx(2 / report.sent)
    assert results.rates["unsubscribe_rate"] == 0
    assert results.rates["bounce_rate"] is None  # the outbox reports no bounces
    data = results.as_dict()
    assert data["clicks"] == 4 and data["clicks_by_day"][0] == 4


def test_never_sent_has_no_results_and_trends_list_newest_first(sent: Sent) -> None:
    assert campaign_results(sent.sessions, "never-sent", "outbox") is None
    rows = trends(sent.sessions, "outbox")
    assert [row.slug for row in rows] == [sent.slug]
    assert rows[0].sent == len(sent.ids) and rows[0].click_rate == 0
    assert rows[0].as_dict()["slug"] == sent.slug
