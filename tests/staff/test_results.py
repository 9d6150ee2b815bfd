"""The results pages over real HTTP (issue 14 items 3-5): after a real send and real clicks
through /c/ links, a campaign's page shows `mailer report --json`'s figures, and each chart's
table holds the same numbers; a digest gets clicks per article; /staff/results lists the last
issues side by side. Everyone signed in may look. SQLite."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest

from mailer.staff.accounts import Role
from tests.delivery_helpers import CAMPAIGN
from tests.staff.conftest import Run, StaffServer
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

DIGEST = """---
subject: Two ways to a better neck
preheader: Desk and sleep.
status: approved
articles:
- title: Desk posture
  url: https://www.summitspine.example/blog/desk
- title: Sleep position
  url: https://www.summitspine.example/blog/sleep
---
## Desk posture

Sit back.

[[button "Read more" https://www.summitspine.example/blog/desk]]

## Sleep position

Lie on your back.

[[button "Read more" https://www.summitspine.example/blog/sleep]]

[[cta]]
"""


@pytest.fixture
def sent(staff_server: StaffServer, monkeypatch: pytest.MonkeyPatch) -> Sent:
    live = LiveServer(staff_server.url, staff_server.workspace)
    url = f"sqlite:///{staff_server.workspace.root / 'mailer.db'}"
    return send_campaign(live, url, monkeypatch)


def click(url: str) -> None:
    assert httpx.get(url, follow_redirects=False).status_code in (302, 303, 307)


def figures_on(page: httpx.Response) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_]+)">([^<]*)<', page.text))


def chart_table(page: httpx.Response, key: str) -> list[tuple[str, str]]:
    table = re.search(
        rf'<table class="chart-table" data-chart="{key}">(.*?)</table>', page.text, re.S
    )
    assert table, f"no table for chart {key}"
    return re.findall(
        r'<th scope="row">([^<]*)</th><td class="number">([^<]*)</td>', table.group(1)
    )


def test_the_page_shows_the_reports_figures_and_charts_with_the_same_numbers(
    staff_server: StaffServer, sent: Sent, mailer: Callable[..., Run]
) -> None:
    ana, ben = sorted(sent.ids)[:2]
    for url in (sent.click_urls(ana)[0], sent.click_urls(ana)[0], sent.click_urls(ben)[-1]):
        click(url)
    report = json.loads(mailer("report", sent.slug, "--json").out)
    assert report["clicks"] == 3

    http = staff_server.signed_in("editor@clinic.example", Role.EDITOR)
    page = http.get(f"/staff/campaigns/{sent.slug}/results")
    assert page.status_code == 200
    shown = figures_on(page)
    for key in ("recipients", "sent", "clicked_unique", "clicks", "cta_clicks", "unsubscribed"):
        assert shown[key] == f"{report[key]:,}", key
    for key in ("delivered", "bounced", "opened_unique", "complaints"):
        assert report[key] is None and shown[key] == "not available with this provider"

    days = chart_table(page, "1")
    assert len(days) == 7 and sum(int(n) for _, n in days) == report["clicks"]
    assert int(days[0][1]) == report["clicks"]  # all today, the first day
    places = chart_table(page, "2")
    assert sorted(int(n) for _, n in places) == sorted(report["clicks_by_place"].values())
    links = chart_table(page, "3")
    assert sum(int(n) for _, n in links) == report["clicks"]
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.text and 'role="img"' in page.text
    # One article: no per-article chart.
    assert 'data-chart="4"' not in page.text


def test_a_digest_gets_clicks_per_article(
    staff_server: StaffServer, sent: Sent, mailer: Callable[..., Run]
) -> None:
    sent.send("two-ways-to-a-better-neck", DIGEST)
    digest = Sent(sent.workspace, sent.sessions, "two-ways-to-a-better-neck", sent.ids)
    for address in sent.ids:
        desk = [u for u in digest.click_urls(address)]
        click(desk[0])
    http = staff_server.signed_in("owner@clinic.example")
    page = http.get("/staff/campaigns/two-ways-to-a-better-neck/results")
    assert page.status_code == 200
    per_article = dict(chart_table(page, "4"))
    assert set(per_article) == {"Desk posture", "Sleep position"}
    report = json.loads(mailer("report", "two-ways-to-a-better-neck", "--json").out)
    by_page: dict[str, int] = {}
    for row in report["clicks_by_link"]:
        page_url = row["url"].split("?")[0]
        by_page[page_url] = by_page.get(page_url, 0) + row["clicks"]
    assert int(per_article["Desk posture"]) == by_page["https://www.summitspine.example/blog/desk"]


def test_trends_list_the_last_issues_side_by_side(staff_server: StaffServer, sent: Sent) -> None:
    ana = sorted(sent.ids)[0]
    cta = [u for u in sent.click_urls(ana)]
    click(cta[0])
    sent.send("second-issue", CAMPAIGN.replace("Sleep position and neck", "The second issue about"))
    http = staff_server.signed_in("editor@clinic.example", Role.EDITOR)
    page = http.get("/staff/results")
    assert page.status_code == 200
    issues = re.findall(r'<a href="/staff/campaigns/([^/]+)/results">', page.text)
    assert issues == ["second-issue", sent.slug], "newest first"
    assert "Booking-button clicks per issue" in page.text
    assert 'data-chart="cta"' in page.text


def test_not_sent_or_a_strange_slug_is_a_404_and_anonymous_is_asked_to_sign_in(
    staff_server: StaffServer,
) -> None:
    assert staff_server.client().get("/staff/campaigns/x/results").status_code == 303
    http = staff_server.signed_in("editor@clinic.example", Role.EDITOR)
    for slug in ("never-sent", "-x", ".hidden"):
        answer = http.get(f"/staff/campaigns/{slug}/results")
        assert answer.status_code == 404, slug
        assert "has not been sent" in answer.text
    assert http.get("/staff/campaigns/%2e%2e%2fmailer/results").status_code == 404
    empty = http.get("/staff/results")
    assert empty.status_code == 200 and "No issue has been sent yet." in empty.text
