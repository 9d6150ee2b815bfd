"""The staff pages' figures (issue 13): the live preview's round trip and the campaign list.

Run: .venv/bin/python -m bench staff_preview

The whole `mailer serve` app runs in this process under uvicorn (a thread, loopback, a free
port); an httpx client with keep-alive makes the requests, so each figure is a loopback round
trip: the server's work plus the HTTP both ways, an upper bound of the server time.

- preview: ``POST /staff/campaigns/<slug>/preview`` with the unsaved fields of a five-article
  digest (bench/compile.py's body), the subject changed on every request as staff type: what
  happens between a pause in typing and the iframe's new document (read the form, load the
  file, compile, build the message, check it). Target: median <= 20 ms. ``POST .../check``, the
  page's second request per pause (the findings beside the fields), is timed the same way.
- list: ``GET /staff`` with 500 campaign files: all drafts or approved, then with 450 of them
  sent (a finished run each: a weekly newsletter's ten years). Target: <= 100 ms. The time
  inside app/campaign_list.py's list_campaigns is shown apart, as the rest is the page's own.

Sign-in goes through ``_sign_in``: an owner account made in the workspace's database, then the
real sign-in form (a session cookie), as a browser does.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from bench.compile import TOPICS, digest_body
from mailer.app.campaign_list import list_campaigns
from mailer.campaigns.campaign import ArticleRef, Campaign, save_campaign
from mailer.staff import accounts
from mailer.staff.accounts import Role
from mailer.store.db import open_database, transaction
from mailer.store.models import CampaignApproval, CampaignRun, SendState
from mailer.web.app import create_app
from mailer.workspace import Workspace, init_workspace

PREVIEW_RUNS = 200
LIST_RUNS = 30
CAMPAIGNS = 500
SENT = 450
SLUG = "2026-03-10-digest"
OWNER = "owner@clinic.example"


PASSWORD = "purple lantern orbit 7"


def _sign_in(client: httpx.Client, workspace: Workspace) -> None:
    _, sessions = open_database(workspace.database_url, auto_upgrade=True)
    with transaction(sessions) as db:
        if accounts.find(db, OWNER) is None:
            accounts.add(db, OWNER, Role.OWNER, now=datetime.now(UTC), name="", password=PASSWORD)
    page = client.get("/staff/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no sign-in form"
    form = {"csrf_token": token[1], "email": OWNER, "password": PASSWORD}
    answer = client.post("/staff/login", data=form)
    assert answer.status_code == 303, answer.text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _serving(workspace: Workspace) -> Iterator[httpx.Client]:
    port = _free_port()
    os.environ["MAILER_WEB__BASE_URL"] = f"http://127.0.0.1:{port}"
    workspace = Workspace(workspace.root)
    config = uvicorn.Config(
        create_app(workspace, host="127.0.0.1"),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            _sign_in(client, workspace)
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class _Samples(list[float]):
    cpu: float = 0.0  # CPU seconds of this process (server and client) over all the runs


def _timed(run: Callable[[], object], repeat: int) -> _Samples:
    samples = _Samples()
    cpu = time.process_time()
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    samples.cpu = time.process_time() - cpu
    return samples


def _report(label: str, samples: _Samples, target: str = "") -> None:
    """Wall time per run (median, p95) and CPU time per run: on a shared machine the wall time
    includes waiting for a core; the CPU time is what the work costs (server and client)."""
    ordered = sorted(samples)
    median = statistics.median(ordered) * 1e3
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1e3
    cpu = samples.cpu / len(samples) * 1e3
    aim = f"; target {target}" if target else ""
    print(
        f"{label}: median {median:.1f} ms, p95 {p95:.1f} ms wall; {cpu:.1f} ms CPU "
        f"({len(samples)} runs{aim})"
    )


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def preview(workspace: Workspace) -> None:
    campaign = Campaign(
        slug=SLUG,
        subject="Five short reads for a healthier neck",
        preheader="Desk habits, sleep, and a patient story",
        body=digest_body(),
        articles=[
            ArticleRef(title, f"https://www.summitspine.example/blog/{slug}")
            for title, slug in TOPICS
        ],
    )
    save_campaign(campaign, workspace.campaigns_dir / f"{SLUG}.md")
    with _serving(workspace) as client:
        token = _csrf(client.get(f"/staff/campaigns/{SLUG}").text)
        typed = iter(range(10**9))

        def post(what: str, n: int) -> None:
            fields = {
                "csrf_token": token,
                "subject": f"Five short reads for a healthier neck {n}",
                "preheader": campaign.preheader,
                "body": campaign.body,
            }
            response = client.post(f"/staff/campaigns/{SLUG}/{what}", data=fields)
            assert response.status_code == 200, response.text[:300]
            if what == "preview":
                assert f"healthier neck {n}</title>" in response.text

        def pause() -> None:
            """What one pause in typing asks of the server: the preview, then (once it has
            loaded) the check of the same fields."""
            n = next(typed)
            post("preview", n)
            post("check", n)

        for _ in range(20):  # warm up: templates compiled, Markdown parse cached
            post("preview", next(typed))
        _report(
            "live preview round trip, five-article digest (POST .../preview)",
            _timed(lambda: post("preview", next(typed)), PREVIEW_RUNS),
            "median <= 20 ms",
        )
        _report(
            "a pause in typing: preview, then check of the same fields",
            _timed(pause, PREVIEW_RUNS),
        )
        _report(
            "check fragment alone, fields not previewed (POST .../check)",
            _timed(lambda: post("check", next(typed)), PREVIEW_RUNS // 2),
        )


def campaign_list(workspace: Workspace) -> None:
    _, sessions = open_database(workspace.database_url)
    start = datetime(2016, 3, 1, 15, tzinfo=UTC)
    for n in range(CAMPAIGNS):
        slug = f"{(start + timedelta(weeks=n)).date()}-issue-{n:03d}"
        save_campaign(
            Campaign(
                slug=slug,
                subject=f"Issue {n}: what your upper neck does all day",
                preheader="Three short reads from our team",
                body=f"Issue {n}.\n\n[[cta]]\n",
                status="approved" if n % 10 == 0 else "draft",
                articles=[ArticleRef(f"Article {n}", f"https://www.summitspine.example/b/{n}")],
            ),
            workspace.campaigns_dir / f"{slug}.md",
        )
        if n % 10 == 0:
            with sessions.begin() as session:
                session.add(
                    CampaignApproval(
                        slug=slug, fingerprint="0" * 64, approved_by=OWNER, approved_at=start
                    )
                )
    with _serving(workspace) as client:

        def page() -> None:
            response = client.get("/staff")
            assert response.status_code == 200 and response.text.count("<tr>") == CAMPAIGNS + 1

        page()
        _report(
            f"campaign list, {CAMPAIGNS} campaigns, none sent (GET /staff)",
            _timed(page, LIST_RUNS),
            "<= 100 ms",
        )
        now = datetime.now(UTC)
        _report(
            "  of which list_campaigns",
            _timed(lambda: list_campaigns(workspace, sessions, now), LIST_RUNS),
        )
        slugs = sorted(p.stem for p in workspace.campaigns_dir.glob("*.md"))[:SENT]
        with sessions.begin() as session:
            for slug in slugs:
                session.add(
                    CampaignRun(
                        slug=slug,
                        subject=slug,
                        state=SendState.FINISHED,
                        template={},
                        links=[],
                        recipients=1200,
                        finished_at=now,
                    )
                )
        page()
        _report(
            f"campaign list, {CAMPAIGNS} campaigns, {SENT} sent (GET /staff)",
            _timed(page, LIST_RUNS),
            "<= 100 ms",
        )
        _report(
            "  of which list_campaigns",
            _timed(lambda: list_campaigns(workspace, sessions, now), LIST_RUNS),
        )


def main() -> None:
    os.environ.setdefault("MAILER_SECRET_KEY", "bench-secret-key-0123456789")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        preview(init_workspace(Path(folder) / "preview"))
        campaign_list(init_workspace(Path(folder) / "list"))
