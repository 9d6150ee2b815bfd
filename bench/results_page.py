"""A sent campaign's results page for 100,000 recipients and 20,000 clicks (issue 14), on
SQLite and PostgreSQL.

Fills a fresh workspace's database with RESULTS_RECIPIENTS subscribers, one sent digest of two
articles (a delivery row each, five links) and RESULTS_CLICKS clicks spread over the first week,
then times, as the median of REPEAT runs after one warm-up:

- the page's data: ``mailer.app.results.results_of`` (the report of `mailer report --json`
  plus the chart series);
- the whole page: ``GET /staff/campaigns/<slug>/results`` through the app in-process (session
  check, the data, the charts, the template), signed in as an owner.

Target: at most 200 ms server time for the page.

    python -m bench results_page
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from bench.search import POSTGRES, populate
from mailer.app.results import results_of
from mailer.staff import accounts
from mailer.staff.accounts import Role
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.store.models import CampaignRun, Click, Delivery
from mailer.web.app import create_app
from mailer.workspace import Workspace, init_workspace

RECIPIENTS = int(os.environ.get("RESULTS_RECIPIENTS", "100000"))
CLICKS = int(os.environ.get("RESULTS_CLICKS", "20000"))
REPEAT = 9
TARGET_MS = 200.0
SLUG = "2026-11-24-desk-and-sleep"
PASSWORD = "purple lantern orbit 7"
SENT_AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LINKS = [
    {"index": 0, "place": "cta-top", "url": "https://book.example/consult", "text": "Book"},
    {"index": 1, "place": "read-more", "url": "https://clinic.example/blog/desk", "text": "Desk"},
    {"index": 2, "place": "read-more", "url": "https://clinic.example/blog/sleep", "text": "Sleep"},
    {"index": 3, "place": "cta-bottom", "url": "https://book.example/consult", "text": "Book"},
    {"index": 4, "place": "footer", "url": "https://clinic.example/", "text": "Website"},
]
CAMPAIGN = f"""---
subject: "Desk and sleep"
status: sent
articles:
- title: Desk posture
  url: https://clinic.example/blog/desk
- title: Sleep position
  url: https://clinic.example/blog/sleep
sent_at: "{SENT_AT:%Y-%m-%dT%H:%M:%SZ}"
---
Two articles.
"""


def fill(sessions: sessionmaker[Session]) -> None:
    populate(sessions, RECIPIENTS)
    rng = random.Random(1414)
    with sessions.begin() as session:
        run = CampaignRun(
            slug=SLUG,
            subject="Desk and sleep",
            state="finished",
            template={},
            links=LINKS,
            recipients=RECIPIENTS,
            created_at=SENT_AT,
            finished_at=SENT_AT + timedelta(minutes=20),
        )
        session.add(run)
        session.flush()
        for start in range(1, RECIPIENTS + 1, 50_000):
            session.execute(
                insert(Delivery),
                [
                    {"campaign_id": run.id, "subscriber_id": n, "state": "sent", "sent_at": SENT_AT}
                    for n in range(start, min(start + 50_000, RECIPIENTS + 1))
                ],
            )
        clicks = []
        for _ in range(CLICKS):
            link = rng.choice(LINKS)
            clicks.append(
                {
                    "campaign_id": run.id,
                    "subscriber_id": rng.randint(1, RECIPIENTS),
                    "link_index": link["index"],
                    "place": link["place"],
                    "url": link["url"],
                    "clicked_at": SENT_AT + timedelta(hours=rng.expovariate(1 / 30)),
                }
            )
        session.execute(insert(Click), clicks)


def median_ms(work: Callable[[], object]) -> float:
    work()  # warm-up
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(root: Path, database_url: str, backend: str) -> None:
    os.environ["MAILER_DATABASE__URL"] = database_url
    os.environ.setdefault("MAILER_SECRET_KEY", "bench-secret-key-0123456789abcdef")
    workspace = Workspace(root)
    (workspace.campaigns_dir / f"{SLUG}.md").write_text(CAMPAIGN, encoding="utf-8")
    engine = make_engine(database_url)
    upgrade_schema(engine)
    sessions = session_factory(engine)
    started = time.perf_counter()
    fill(sessions)
    built = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    with sessions.begin() as session:
        accounts.add(
            session, "owner@clinic.example", Role.OWNER, now=datetime.now(UTC), password=PASSWORD
        )
    data_ms = median_ms(lambda: results_of(workspace, sessions, SLUG))
    with TestClient(create_app(workspace, host="127.0.0.1")) as client:
        login = client.get("/staff/login")
        token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post(
            "/staff/login",
            data={"csrf_token": token, "email": "owner@clinic.example", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text

        def page() -> None:
            answer = client.get(f"/staff/campaigns/{SLUG}/results")
            assert answer.status_code == 200 and "Clicks per article" in answer.text

        page_ms = median_ms(page)
    engine.dispose()
    mark = "ok" if page_ms <= TARGET_MS else "OVER"
    print(f"{backend}: {RECIPIENTS:,} recipients, {CLICKS:,} clicks (filled in {built:.0f} s)")
    print(f"  results data (results_of)      {data_ms:7.1f} ms")
    print(f"  GET .../results, whole page    {page_ms:7.1f} ms  {mark} (target {TARGET_MS:.0f})")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = init_workspace(Path(folder) / "ws").root
        measure(root, f"sqlite:///{root / 'mailer.db'}", "SQLite")
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"mailer_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = init_workspace(Path(folder) / "ws").root
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            measure(root, url, "PostgreSQL")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
