"""Results on the staff pages (issue 14 items 3-5): a sent campaign's figures as numbers and
charts, and the last issues side by side. Every staff member may look.

- ``GET /staff/campaigns/{slug}/results`` (the campaign page's "Results" link): the figures of
  `mailer report --json` (mailer.app.results: the same code, the same provider setting), then
  charts: clicks per day over the first week, clicks by place (the booking buttons first) and
  by link, and per article in a digest. Each chart is server-side SVG (web/charts.py) with a
  table of its numbers under it.
- ``GET /staff/results``: the last issues side by side: click rate, booking-button clicks and
  their rate, unsubscribe rate, bounces, with a chart of the booking-button clicks per issue.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer.app.results import ResultsView, last_issues, results_of
from mailer.delivery.report import NOT_AVAILABLE, is_cta
from mailer.delivery.results import TIMELINE_DAYS, clicks_per_place
from mailer.web.charts import Chart, bars, columns
from mailer.web.staff.auth import StaffUser, current_staff, render, web_context
from mailer.web.staff.look import brand_ink

router = APIRouter()
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
TRENDS = 8
PLACES = {"cta-top": "booking button, top", "cta-middle": "booking button, middle"}


def place_label(place: str) -> str:
    """How a link's place reads on the page: the booking buttons by name."""
    if place in PLACES:
        return PLACES[place]
    if place == "cta":
        return "booking button"
    if is_cta(place):
        return f"booking button, {place.removeprefix('cta-').replace('-', ' ')}"
    return (place or "(no place)").replace("-", " ")


def percent(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value * 100:.1f} %"


def number(value: int | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:,}"


def _bare(url: str) -> str:
    return url.split("?", 1)[0].split("://", 1)[-1]


def link_label(row: dict[str, Any]) -> str:
    """A link of the report's clicks_by_link: its text (else its address) and its place."""
    return f"{row['text'] or _bare(str(row['url']))} ({place_label(str(row['place']))})"


def figures(view: ResultsView) -> list[dict[str, Any]]:
    """The report's figures as the page lists them; ``key`` is the name in `mailer report
    --json` (None for the page's own rates)."""
    report, rates = view.results.report, view.results.rates
    rows: list[tuple[str, str | None, str]] = [
        ("Recipients", "recipients", number(report.recipients)),
        ("Sent", "sent", number(report.sent)),
        ("Delivered", "delivered", number(report.delivered)),
        ("Bounced", "bounced", number(report.bounced)),
        ("Opened (people)", "opened_unique", number(report.opened_unique)),
        ("Clicked (people)", "clicked_unique", number(report.clicked_unique)),
        ("Clicks", "clicks", number(report.clicks)),
        ("Booking-button clicks", "cta_clicks", number(report.cta_clicks)),
        ("Unsubscribed", "unsubscribed", number(report.unsubscribed)),
        ("Spam complaints", "complaints", number(report.complaints)),
        ("Failed", "failed", number(report.failed)),
        ("Click rate (people who clicked / sent)", None, percent(rates["click_rate"])),
        (
            "Booking-button click rate (people / sent)",
            None,
            percent(rates["cta_click_rate"]),
        ),
        ("Unsubscribe rate", None, percent(rates["unsubscribe_rate"])),
    ]
    return [{"label": label, "key": key, "value": value} for label, key, value in rows]


def charts(view: ResultsView, colour: str) -> list[tuple[Chart, str]]:
    """The page's charts, each with the heading of its table's first column."""
    results = view.results
    days = [results.sent_at + timedelta(days=n) for n in range(TIMELINE_DAYS)]
    found: list[tuple[Chart, str]] = [
        (
            columns(
                "Clicks per day, first 7 days after sending",
                [f"{day:%a} {day.day}" for day in days],
                results.clicks_by_day,
                colour,
            ),
            "Day",
        ),
        (
            bars(
                "Clicks by place in the email (booking buttons first)",
                [(place_label(place), n) for place, n in clicks_per_place(results)],
                colour,
            ),
            "Place",
        ),
        (
            bars(
                "Clicks by link",
                [
                    (link_label(row), n)
                    for row in results.report.clicks_by_link
                    if (n := int(row["clicks"]))
                ],
                colour,
            ),
            "Link",
        ),
    ]
    if view.digest:
        found.append(
            (
                bars(
                    "Clicks per article",
                    [(str(a["title"]), int(a["clicks"])) for a in results.clicks_by_article],
                    colour,
                ),
                "Article",
            )
        )
    return found


@router.get("/campaigns/{slug}/results")
def campaign_results_page(
    request: Request, slug: str, user: StaffUser = Depends(current_staff)
) -> Response:
    ctx = web_context(request)
    view = results_of(ctx.workspace, ctx.sessions, slug) if SLUG.fullmatch(slug) else None
    if view is None:
        return render(
            request,
            "staff/error.html",
            {"reason": f"{slug[:200]} has not been sent, so it has no results yet."},
            404,
        )
    colour = brand_ink(ctx.settings.organization.brand_color)
    return render(
        request,
        "staff/results.html",
        {
            "view": view,
            "slug": slug,
            "figures": figures(view),
            "charts": charts(view, colour),
        },
    )


@router.get("/results")
def trends_page(request: Request, user: StaffUser = Depends(current_staff)) -> Response:
    ctx = web_context(request)
    rows = last_issues(ctx.workspace, ctx.sessions, TRENDS)
    colour = brand_ink(ctx.settings.organization.brand_color)
    oldest_first = list(reversed(rows))
    chart = bars(
        "Booking-button clicks per issue",
        [(row.subject or row.slug, row.cta_clicks) for row in oldest_first],
        colour,
    )
    rate_chart = bars(
        "Click rate per issue (% of people sent it who clicked)",
        [(row.subject or row.slug, round((row.click_rate or 0) * 100, 1)) for row in oldest_first],
        colour,
    )
    return render(
        request,
        "staff/trends.html",
        {
            "rows": rows,
            "charts": [chart, rate_chart],
            "percent": percent,
            "number": number,
        },
    )
