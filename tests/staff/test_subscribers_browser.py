"""The subscriber and results pages in a real browser (Debian's Chromium) at 1280 and 375 px
(issue 14): sign in, search and find Mrs Lee, add and remove a tag, import a CSV file with a bad
row (dry run, then the import with its progress) and download its rejects, then a sent
campaign's results after real clicks through /c/ links, with a chart whose numbers are those of
`mailer report --json`, and the issues side by side. On every page: axe-core finds no serious
or critical violation, nothing scrolls sideways, nothing is blocked by the
Content-Security-Policy. Screenshots in test-artifacts/."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailer.delivery.report import campaign_report
from mailer.store.db import transaction
from mailer.subscribers.service import add_subscriber
from tests.staff.conftest import PASSWORD, StaffServer
from tests.staff.test_browser import ARGS, ARTIFACTS, no_horizontal_scroll, unlabelled_fields
from tests.web.checkers import axe_violations
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ROWS = 20_000  # enough for the progress bar to show for a moment


@pytest.fixture
def sent(staff_server: StaffServer, monkeypatch: pytest.MonkeyPatch) -> Sent:
    with transaction(staff_server.sessions) as session:
        add_subscriber(
            session,
            "margaret.lee@example.com",
            first_name="Margaret",
            last_name="Lee",
            tags=["patient"],
        )
        add_subscriber(session, "lee.brown@example.com", first_name="Lee", last_name="Brown")
    live = LiveServer(staff_server.url, staff_server.workspace)
    url = f"sqlite:///{staff_server.workspace.root / 'mailer.db'}"
    return send_campaign(live, url, monkeypatch)


def csv_with_a_bad_row(folder: Path) -> Path:
    path = folder / "new-patients.csv"
    lines = ["Email,First Name,Last Name"]
    lines += [f"patient{n:05d}@example.com,Pat,Number{n}" for n in range(ROWS)]
    lines.insert(3, "not an address,Bad,Row")  # line 4 of the file
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 375])
def test_search_tag_import_and_results(
    staff_server: StaffServer, sent: Sent, chromium_path: str, width: int, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"staff14-{width}"
    staff_server.add("maria@clinic.example")
    for url in (sent.click_urls(sorted(sent.ids)[0])[0], sent.click_urls(sorted(sent.ids)[1])[-1]):
        assert httpx.get(url, follow_redirects=False).status_code in (302, 303, 307)
    accessibility: dict[str, list[str]] = {}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": 900}, accept_downloads=True
            )
            page = context.new_page()
            blocked: list[str] = []
            page.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.on("pageerror", lambda error: blocked.append(str(error)))

            def check(name: str) -> None:
                """No sideways scroll, every field labelled, axe clean, a screenshot."""
                assert no_horizontal_scroll(page), name
                assert unlabelled_fields(page) == [], name
                page.screenshot(path=f"{shot}-{name}.png", full_page=True)
                # axe-core is injected as an inline script, which the staff pages' CSP
                # forbids: it runs on the same page in a second tab that ignores the CSP.
                checker = browser.new_context(
                    viewport={"width": width, "height": 900},
                    storage_state=context.storage_state(),
                    bypass_csp=True,
                ).new_page()
                checker.goto(page.url)
                found = axe_violations(checker)
                checker.context.close()
                if found:
                    accessibility[name] = found

            page.goto(f"{staff_server.url}/staff/subscribers")
            page.get_by_label("Email").fill("maria@clinic.example")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Subscribers", level=1)).to_be_visible()

            # Search and find Mrs Lee (htmx swaps the results as one types).
            page.get_by_label("Search").fill("lee")
            results = page.locator("#results")
            expect(results.get_by_role("link", name="margaret.lee@example.com")).to_be_visible()
            expect(results.get_by_role("link")).to_have_count(3)  # two people and the export
            check("1-search")
            results.get_by_role("link", name="margaret.lee@example.com").click()
            expect(page.get_by_role("heading", name="margaret.lee@example.com")).to_be_visible()
            expect(page.get_by_role("table").first).to_contain_text("added as active")

            # Change a tag.
            page.get_by_label("New tag", exact=True).fill("Workshop 2026")
            page.get_by_role("button", name="Add tag").click()
            expect(page.get_by_role("status")).to_have_text("Tag added.")
            tags = page.get_by_role("list").filter(has_text="workshop 2026")
            expect(tags).to_contain_text("patient")
            check("2-person")
            page.get_by_role("button", name="Remove the tag patient").click()
            expect(page.get_by_role("status")).to_have_text("Tag removed.")
            expect(page.locator("ul.tags")).not_to_contain_text("patient")

            # Import a CSV file with a bad row: dry run, then the import, then the rejects.
            nav = page.get_by_role("navigation", name="Staff pages")
            nav.get_by_role("link", name="Subscribers").click()
            page.get_by_label("CSV file").set_input_files(str(csv_with_a_bad_row(tmp_path)))
            page.get_by_role("button", name="Import", exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("would change")
            check("3-dry-run-progress")
            expect(page.get_by_text("Dry run finished: nothing was written.")).to_be_visible(
                timeout=60_000
            )
            expect(page.locator('[data-count="imported"]')).to_have_text(f"{ROWS:,}")
            expect(page.locator('[data-count="rejected"]')).to_have_text("1")
            expect(page.get_by_role("table").nth(1)).to_contain_text("invalid address")
            check("4-dry-run")
            page.get_by_role("button", name="Import now").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Import of")
            # The bar moves while it runs (a fast machine may finish first).
            page.wait_for_function(
                "() => { const bar = document.querySelector('#import-progress');"
                " return !bar || Number(bar.value) > 0; }",
                timeout=60_000,
            )
            if page.get_by_role("progressbar").count():
                page.screenshot(path=f"{shot}-5-import-progress.png", full_page=True)
            expect(page.get_by_text("Import finished.")).to_be_visible(timeout=120_000)
            expect(page.locator('[data-count="imported"]')).to_have_text(f"{ROWS:,}")
            check("6-imported")
            with page.expect_download() as download:
                page.get_by_role("link", name=re.compile("Download the 1 rejected row")).click()
            rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
            assert rows[0] == ["line", "reason", "email"]
            assert rows[1][:1] == ["4"] and "invalid address" in rows[1][1]

            # A sent campaign's results: the chart's numbers are the report's.
            report = campaign_report(sent.sessions, sent.slug, "outbox")
            assert report is not None and report.clicks == 2
            page.goto(f"{staff_server.url}/staff/campaigns/{sent.slug}/results")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Results")
            chart = page.get_by_role("figure", name="Clicks per day, first 7 days after sending")
            expect(chart.get_by_role("img")).to_be_visible()
            days = chart.locator("td.number").all_inner_texts()
            assert len(days) == 7 and sum(int(n) for n in days) == report.clicks
            figures: dict[str, Any] = report.as_dict()
            for key in ("recipients", "sent", "clicks", "cta_clicks", "clicked_unique"):
                shown = page.locator(f'[data-figure="{key}"]').inner_text()
                assert shown == f"{figures[key]:,}", key
            places = page.get_by_role("figure", name=re.compile("Clicks by place"))
            assert sum(int(n) for n in places.locator("td.number").all_inner_texts()) == 2
            check("7-results")
            page.get_by_role("link", name="All issues side by side").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("side by side")
            check("8-trends")
            assert blocked == []
        finally:
            browser.close()
    assert accessibility == {}
