"""`mailer report --json` after a real send: figures from webhook events and /c/ clicks, each
person counted once where the name says unique, and which calls to action and links drew clicks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.events.ingest import ingest
from mailer.events.sources.sendgrid import read_events
from mailer.store.models import CampaignRun, Click, Subscriber
from mailer.workspace import Workspace
from tests.app.test_delivery_cli import _env
from tests.cli_runner import Mailer
from tests.delivery_helpers import SLUG, fill_list, write_campaign
from tests.web_sending import send_campaign, undo_field
from tests.web_server import LiveServer

ANA, BEN, CLEA = "ana@example.com", "ben@example.com", "clea@example.com"


@pytest.mark.slow
def test_report_counts_events_and_clicks(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    fill_list(sessions, tmp_path, 6)
    write_campaign(workspace, sessions)
    assert mailer("send", SLUG, "--yes", env=_env(database_url), process=True).exit_code == 0
    with sessions() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == SLUG)).one()
        people = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    link = {item["place"]: item for item in run.links}
    s0, s1, s2, s3, s4, s5 = people
    n = 0

    def sg(kind: str, subscriber: int, **extra: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {
            "event": kind,
            "sg_event_id": f"e{n}",
            "timestamp": 1_700_000_000 + n,
            "subscriber_id": str(subscriber),
            "campaign_slug": SLUG,
            "campaign_id": str(run.id),
            **extra,
        }

    batch = [sg("processed", s) for s in people] + [sg("delivered", s) for s in people[:5]]
    batch += [
        sg("delivered", s0),  # a second delivered event for the same person: still one
        sg("bounce", s5, type="bounce"),
        sg("open", s0),
        sg("open", s0),
        sg("open", s1),
        # tracking off: the link as sent; counts for its place
        sg("click", s2, url=link["cta-bottom"]["url"]),
        # a click on our /c/ redirect is already a Click row: not counted twice
        sg("click", s0, url="https://news.example/c/abc.0"),
        sg("unsubscribe", s3),
        sg("group_unsubscribe", s3),
        sg("spamreport", s4),
    ]
    assert ingest(sessions, read_events(batch)).stored == len(batch)
    with sessions() as session, session.begin():
        for subscriber, place in (
            (s0, "cta-top"),
            (s0, "cta-top"),
            (s0, "read-more"),
            (s1, "read-more"),
        ):
            item = link[place]
            session.add(
                Click(
                    campaign_id=run.id,
                    subscriber_id=subscriber,
                    link_index=item["index"],
                    place=place,
                    url=item["url"],
                )
            )

    report = mailer("report", SLUG, "--json", env=_env(database_url), process=True)
    assert report.exit_code == 0, report.stderr
    figures = json.loads(report.stdout)
    assert figures["recipients"] == figures["sent"] == 6
    assert figures["delivered"] == 5
    assert figures["bounced"] == 1
    assert figures["opened_unique"] == 2
    assert figures["clicked_unique"] == 3  # s0, s1 (Click rows) and s2 (SendGrid click)
    assert figures["cta_clicks"] == 3  # cta-top twice, cta-bottom once
    assert figures["unsubscribed"] == 1
    assert figures["complaints"] == 1
    assert figures["clicks"] == 5
    assert figures["clicks_by_place"] == {"cta-top": 2, "read-more": 2, "cta-bottom": 1}
    by_link = [(row["place"], row["clicks"], row["unique"]) for row in figures["clicks_by_link"]]
    assert by_link == [
        ("cta-top", 2, 1),
        ("read-more", 2, 2),
        ("cta-bottom", 1, 1),
        ("footer", 0, 0),
    ]
    assert figures["clicks_by_link"][1]["url"] == link["read-more"]["url"]

    table = mailer("report", SLUG, env=_env(database_url), process=True)
    assert table.exit_code == 0, table.stderr
    assert "cta-top 2" in table.stdout and "read-more" in table.stdout


@pytest.mark.slow
def test_report_counts_current_state_and_says_what_the_outbox_cannot_tell(
    mailer: Mailer, live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 19: an unsubscribe undone on the unsubscribe page no longer counts (Ana
    unsubscribes, undoes it and unsubscribes again: one; Ben undoes his: none), and with the
    outbox delivered/opened/bounced/complaints are "not available with this provider" (null in
    --json, the keys kept), not a 0 that reads as failure. A provider's events, once recorded
    for the run, are shown whatever the provider now configured."""
    sent = send_campaign(live_server, database_url, monkeypatch, people=(ANA, BEN, CLEA))
    for who, steps in ((ANA, ("", "/resubscribe", "")), (BEN, ("", "/resubscribe"))):
        page: httpx.Response | None = None
        for step in steps:
            # The undo button carries the undo token of the page shown right after (item 14).
            form = undo_field(page) if step and page is not None else {}
            response = httpx.post(sent.unsubscribe_url(who) + step, data=form)
            assert response.status_code == 200, response.text
            page = response
    assert (sent.status(ANA), sent.status(BEN), sent.status(CLEA)) == (
        "unsubscribed",
        "active",
        "active",
    )
    env = _env(database_url)

    report = mailer("report", sent.slug, "--json", workspace=sent.workspace, env=env, process=True)
    assert report.exit_code == 0, report.stderr
    figures = json.loads(report.stdout)
    assert figures["unsubscribed"] == 1
    assert figures["provider"] == "outbox"
    for name in ("delivered", "bounced", "opened_unique", "complaints"):
        assert name in figures and figures[name] is None, name
    assert sorted(figures["not_available"]) == [
        "bounced",
        "complaints",
        "delivered",
        "opened_unique",
    ]
    assert figures["sent"] == figures["recipients"] == 3
    assert figures["clicked_unique"] == 0 and figures["cta_clicks"] == 0  # our /c/ counts these

    table = mailer("report", sent.slug, workspace=sent.workspace, env=env, process=True)
    assert table.exit_code == 0, table.stderr
    lines = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "│" in line}
    for label in ("delivered", "bounced", "opened unique", "complaints"):
        assert "not available with this provider" in lines[label], table.stdout
    assert "1" in lines["unsubscribed"].split("│")[2]

    with sent.sessions() as session:
        run_id = session.scalars(select(CampaignRun.id).where(CampaignRun.slug == sent.slug)).one()
    delivered = {
        "event": "delivered",
        "sg_event_id": "d1",
        "timestamp": 1_700_000_000,
        "subscriber_id": str(sent.ids[CLEA]),
        "campaign_id": str(run_id),
    }
    assert ingest(sent.sessions, read_events([delivered])).stored == 1
    figures = json.loads(
        mailer(
            "report", sent.slug, "--json", workspace=sent.workspace, env=env, process=True
        ).stdout
    )
    assert figures["delivered"] == 1 and figures["opened_unique"] == 0
    assert figures["not_available"] == []
