"""`mailer report --json` after a real send: figures from webhook events and /c/ clicks, each
person counted once where the name says unique, and which calls to action and links drew clicks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.events.ingest import ingest_events
from mailer.models import CampaignRun, Click, Subscriber
from mailer.workspace import Workspace
from tests.delivery_helpers import SLUG, fill_list, run_mailer, write_campaign
from tests.test_delivery_cli import _env


def test_report_counts_events_and_clicks(
    workspace: Workspace, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    fill_list(sessions, tmp_path, 6)
    write_campaign(workspace, sessions)
    assert run_mailer(workspace, _env(database_url), "send", SLUG, "--yes").returncode == 0
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
    assert ingest_events(sessions, batch).stored == len(batch)
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

    report = run_mailer(workspace, _env(database_url), "report", SLUG, "--json")
    assert report.returncode == 0, report.stderr
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

    table = run_mailer(workspace, _env(database_url), "report", SLUG)
    assert table.returncode == 0, table.stderr
    assert "cta-top 2" in table.stdout and "read-more" in table.stdout
