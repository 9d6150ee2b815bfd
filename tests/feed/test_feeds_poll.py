"""Polling a clinic blog's feed on loopback: baseline, drafts once, digests, approval, failures
and crashes. Time is given as `now=`, never slept through. The entry claims and the lease run on
SQLite and PostgreSQL (both_databases)."""

from __future__ import annotations

import random
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.app.mailing import notify_staff
from mailer.campaigns.approval import current_approval, verify_approved
from mailer.campaigns.campaign import load_campaign, mark_approved, save_campaign
from mailer.feed.entries import entry_key
from mailer.feed.poll import POLL_LEASE, FeedPollResult, poll_feed, poll_lease
from mailer.feed.report import feed_report
from mailer.store.db import make_engine, session_factory
from mailer.store.leases import Lease
from mailer.store.models import CampaignRun, FeedEntry, FeedState, SchedulerLease
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.feed_server import BLOG_PAGE, POSTS, FeedSite, Post, atom, rss, serve_feed

T0 = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
EVERY = timedelta(minutes=15)


@pytest.fixture
def site(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedSite]:
    with serve_feed() as served:
        monkeypatch.setenv("MAILER_FEED__URL", served.url)
        yield served


def newest_first(posts: list[Post]) -> list[Post]:
    return sorted(posts, key=lambda post: post.published, reverse=True)


def poll(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    when: datetime,
    *,
    timeout: float = 10.0,
    backfill: int = 0,
) -> FeedPollResult:
    """A poll as the scheduler makes it: the workspace's settings read afresh."""
    return poll_feed(
        Workspace(workspace.root),
        sessions,
        notify=notify_staff,
        now=when,
        timeout=timeout,
        backfill=backfill,
    )


def campaign_files(workspace: Workspace) -> list[Path]:
    return sorted(workspace.campaigns_dir.glob("*.md"))


def take_notice(workspace: Workspace) -> EmailMessage | None:
    """The latest staff notice in the outbox (one folder per notice); all are removed once read."""
    files = sorted(workspace.outbox_dir.glob("staff-notice*/*.eml"))
    if not files:
        return None
    message = message_from_bytes(files[-1].read_bytes(), policy=default_policy)
    for file in files:
        file.unlink()
    assert isinstance(message, EmailMessage)
    return message


def notice_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def entries(sessions: sessionmaker[Session]) -> list[FeedEntry]:
    with sessions() as session:
        return list(session.scalars(select(FeedEntry).order_by(FeedEntry.id)))


def state_of(sessions: sessionmaker[Session], url: str) -> FeedState:
    with sessions() as session:
        found = session.get(FeedState, url)
        assert found is not None
        return found


def connect(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite, posts: list[Post]
) -> None:
    """The first poll, with ``posts`` already on the blog."""
    site.publish(rss(newest_first(posts)))
    result = poll(workspace, sessions, T0)
    assert result.status == "ok" and result.drafted == []
    take_notice(workspace)


@pytest.mark.both_databases
def test_first_poll_notes_the_existing_articles_and_drafts_none(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    site.publish(rss(newest_first(POSTS[:3])))
    result = poll(workspace, sessions, T0)
    assert (result.status, result.baseline, result.found, result.drafted) == ("ok", 3, 0, [])
    assert campaign_files(workspace) == []
    assert [e.state for e in entries(sessions)] == ["baseline"] * 3
    state = state_of(sessions, site.url)
    assert (state.status, state.polled_at, state.connected_at) == ("ok", T0, T0)
    assert "3 articles already in the feed noted" in state.detail
    notice = take_notice(workspace)
    assert notice is not None
    assert "feed connected: 3 existing articles; new ones will be drafted" in notice["Subject"]
    assert "mailer feed poll --backfill 1" in notice_text(notice)


def test_a_new_article_is_drafted_once_and_an_unchanged_feed_is_a_304(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:3])))
    result = poll(workspace, sessions, T0 + EVERY)
    assert (result.status, result.found) == ("ok", 1)
    [path] = campaign_files(workspace)
    assert result.drafted == [path.stem]
    assert path.stem.startswith("2026-03-10-three-desk-habits")
    campaign = load_campaign(path)
    assert campaign.status == "draft"
    assert campaign.subject == POSTS[2].title
    assert [a.url for a in campaign.articles] == [POSTS[2].link]
    assert "elbows close to your sides" in campaign.body
    notice = take_notice(workspace)
    assert notice is not None
    assert notice["Subject"] == f"[mailer] a draft waits: {POSTS[2].title}"
    text = notice_text(notice)
    assert f"campaigns/{path.stem}.md" in text
    assert f"mailer approve {path.stem}" in text
    assert "Nothing is sent until it is approved." in text

    answered = len(site.requests)
    again = poll(workspace, sessions, T0 + 2 * EVERY)
    assert again.status == "not-modified" and again.drafted == []
    assert site.requests[answered]["if-none-match"] == site.etag
    assert site.requests[answered]["_answer"] == "304"
    state = state_of(sessions, site.url)
    assert (state.status, state.polled_at, state.found) == ("not-modified", T0 + 2 * EVERY, 0)
    assert campaign_files(workspace) == [path]
    assert take_notice(workspace) is None


@pytest.mark.both_databases
def test_repeated_and_reordered_entries_are_drafted_once(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    connect(workspace, sessions, site, POSTS[:2])
    # The blog's feed lists the new article twice, out of date order.
    site.publish(rss([POSTS[0], POSTS[2], POSTS[1], POSTS[2]]))
    assert len(poll(workspace, sessions, T0 + EVERY).drafted) == 1
    shuffled = POSTS[:4]
    random.Random(6).shuffle(shuffled)
    site.publish(rss([*shuffled, POSTS[2]]))
    assert len(poll(workspace, sessions, T0 + 2 * EVERY).drafted) == 1
    site.publish(rss(list(reversed(POSTS[:4]))))
    assert poll(workspace, sessions, T0 + 3 * EVERY).drafted == []
    assert len(campaign_files(workspace)) == 2
    rows = entries(sessions)
    assert len(rows) == 4
    assert sorted(r.state for r in rows) == ["baseline", "baseline", "drafted", "drafted"]
    assert len({r.campaign_slug for r in rows if r.state == "drafted"}) == 2


def test_entries_without_a_guid_are_known_by_their_link(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    posts = [replace(post, guid=False) for post in POSTS[:3]]
    connect(workspace, sessions, site, posts[:2])
    site.publish(rss(newest_first(posts)))
    [slug] = poll(workspace, sessions, T0 + EVERY).drafted
    row = next(r for r in entries(sessions) if r.state == "drafted")
    assert row.entry_id == posts[2].link
    assert row.entry_key == entry_key(posts[2].link)
    # The blog fixes a typo in the title: same link, same article, no second draft.
    retitled = replace(posts[2], title="Three Desk Habits That Ease Neck and Shoulder Strain")
    site.publish(rss([retitled, *newest_first(posts[:2])]))
    assert poll(workspace, sessions, T0 + 2 * EVERY).drafted == []
    assert [p.stem for p in campaign_files(workspace)] == [slug]


def test_an_atom_feed_works_the_same(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    site.content_type = "application/atom+xml"
    site.publish(atom(newest_first(POSTS[:1])))
    assert poll(workspace, sessions, T0).baseline == 1
    site.publish(atom(newest_first(POSTS[:2])))
    [slug] = poll(workspace, sessions, T0 + EVERY).drafted
    campaign = load_campaign(workspace.campaigns_dir / f"{slug}.md")
    assert campaign.subject == POSTS[1].title
    assert "band around the head" in campaign.body


def test_a_feed_draft_is_what_mailer_draft_makes_of_the_entry(
    mailer: Mailer, workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    connect(workspace, sessions, site, POSTS[:1])
    site.publish(rss(newest_first(POSTS[:2])))
    [slug] = poll(workspace, sessions, T0 + EVERY).drafted
    polled = load_campaign(workspace.campaigns_dir / f"{slug}.md")
    run = mailer("draft", site.url)
    assert run.exit_code == 0, run.stdout + run.stderr
    drafted = load_campaign(Path(run.stdout.strip().splitlines()[-1]).resolve())
    assert drafted.slug != polled.slug
    for name in ("subject", "preheader", "status", "articles", "cta", "body"):
        assert getattr(polled, name) == getattr(drafted, name), name


@pytest.mark.parametrize("failure", ["http-500", "timeout", "web-page"])
def test_a_failing_poll_is_recorded_and_the_next_one_drafts(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite, failure: str
) -> None:
    connect(workspace, sessions, site, POSTS[:2])
    good = rss(newest_first(POSTS[:3]))
    if failure == "http-500":
        site.publish(good)
        site.status = 500
        expected = "the server answered 500"
    elif failure == "timeout":
        site.publish(good)
        site.delay = 1.0
        expected = "no answer within 0.3 s"
    else:
        site.publish(BLOG_PAGE)
        site.content_type = "text/html; charset=utf-8"
        expected = "a web page, not an RSS or Atom feed"
    failed = poll(workspace, sessions, T0 + EVERY, timeout=0.3)
    assert failed.status == "error" and failed.drafted == []
    assert expected in failed.error and site.url in failed.error
    assert failed.hint
    state = state_of(sessions, site.url)
    assert (state.status, state.polled_at) == ("error", T0 + EVERY)
    assert expected in state.detail
    assert campaign_files(workspace) == []

    site.status, site.delay = 200, 0.0
    site.content_type = "application/rss+xml"
    site.publish(good)
    recovered = poll(workspace, sessions, T0 + 2 * EVERY)
    assert recovered.status == "ok" and len(recovered.drafted) == 1
    assert state_of(sessions, site.url).status == "ok"


def test_a_failed_first_poll_still_leads_to_a_baseline(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    site.publish(rss(newest_first(POSTS[:2])))
    site.status = 503
    assert poll(workspace, sessions, T0).status == "error"
    assert state_of(sessions, site.url).connected_at is None
    site.status = 200
    result = poll(workspace, sessions, T0 + EVERY)
    assert (result.baseline, result.drafted) == (2, [])
    assert state_of(sessions, site.url).connected_at == T0 + EVERY


def test_digest_gathers_new_articles_until_staff_edit_approve_or_send_it(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    site: FeedSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_FEED__MODE", "digest")
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:3])))
    [first] = poll(workspace, sessions, T0 + EVERY).drafted
    take_notice(workspace)
    site.publish(rss(newest_first(POSTS[:4])))
    assert poll(workspace, sessions, T0 + 2 * EVERY).drafted == [first]
    digest = load_campaign(workspace.campaigns_dir / f"{first}.md")
    assert [a.url for a in digest.articles] == [POSTS[3].link, POSTS[2].link]  # newest featured
    assert digest.subject.startswith(POSTS[3].title)  # the newest first, then the others
    notice = take_notice(workspace)
    assert notice is not None and "now has 2 articles" in notice_text(notice)
    assert len(campaign_files(workspace)) == 1

    # Staff edit it: it is theirs now; the next article starts a new digest.
    path = workspace.campaigns_dir / f"{first}.md"
    edited = path.read_text(encoding="utf-8") + "\nSee you at the open house on Saturday.\n"
    path.write_text(edited, encoding="utf-8")
    site.publish(rss(newest_first(POSTS[:5])))
    [second] = poll(workspace, sessions, T0 + 3 * EVERY).drafted
    assert second != first
    assert path.read_text(encoding="utf-8") == edited
    assert [a.url for a in load_campaign(workspace.campaigns_dir / f"{second}.md").articles] == [
        POSTS[4].link
    ]

    # Approved: closed too.
    campaign = load_campaign(workspace.campaigns_dir / f"{second}.md")
    mark_approved(campaign, T0)
    save_campaign(campaign, workspace.campaigns_dir / f"{second}.md")
    site.publish(rss(newest_first(POSTS[:6])))
    [third] = poll(workspace, sessions, T0 + 4 * EVERY).drafted
    assert third not in (first, second)


def test_digest_already_sending_is_not_rebuilt(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    site: FeedSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_FEED__MODE", "digest")
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:3])))
    [first] = poll(workspace, sessions, T0 + EVERY).drafted
    before = (workspace.campaigns_dir / f"{first}.md").read_bytes()
    with sessions.begin() as session:
        session.add(CampaignRun(slug=first, subject="sent", template={}))
    site.publish(rss(newest_first(POSTS[:4])))
    [second] = poll(workspace, sessions, T0 + 2 * EVERY).drafted
    assert second != first
    assert (workspace.campaigns_dir / f"{first}.md").read_bytes() == before


def test_several_new_articles_in_single_mode_are_drafted_oldest_first(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:5])))
    result = poll(workspace, sessions, T0 + EVERY)
    subjects = [
        load_campaign(workspace.campaigns_dir / f"{slug}.md").subject for slug in result.drafted
    ]
    assert subjects == [POSTS[2].title, POSTS[3].title, POSTS[4].title]
    notice = take_notice(workspace)
    assert notice is not None
    assert notice["Subject"] == "[mailer] 3 drafts from the blog, 3 waiting for approval"
    assert all(f"mailer approve {slug}" in notice_text(notice) for slug in result.drafted)


@pytest.mark.parametrize("auto_approve", [True, False])
def test_auto_approve_approves_only_when_configured(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    site: FeedSite,
    monkeypatch: pytest.MonkeyPatch,
    auto_approve: bool,
) -> None:
    monkeypatch.setenv("MAILER_FEED__AUTO_APPROVE", str(auto_approve).lower())
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:3])))
    result = poll(workspace, sessions, T0 + EVERY)
    [slug] = result.drafted
    campaign = load_campaign(workspace.campaigns_dir / f"{slug}.md")
    notice = take_notice(workspace)
    assert notice is not None
    if auto_approve:
        assert result.approved == [slug]
        assert campaign.status == "approved" and campaign.extra.get("approved_at")
        # Issue 10 item 1: recorded like `mailer approve`, so the send accepts it as it is.
        verified = verify_approved(workspace, sessions, campaign)
        assert verified.approval.approved_by == "feed:auto_approve"
        assert notice["Subject"] == f"[mailer] approved from the blog: {POSTS[2].title}"
        assert "Approved automatically" in notice_text(notice)
    else:
        assert result.approved == [] and campaign.status == "draft"
        assert "approved_at" not in campaign.extra
        assert current_approval(sessions, slug) is None
        assert "a draft waits" in notice["Subject"]


def test_auto_approve_leaves_a_draft_the_check_rejects_and_says_why(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    site: FeedSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_FEED__AUTO_APPROVE", "true")
    connect(workspace, sessions, site, POSTS[:2])
    pasted = replace(
        POSTS[2],
        paragraphs=("Hi {{ first_name }}, this week we look at your desk.", *POSTS[2].paragraphs),
    )
    site.publish(rss([pasted, *newest_first(POSTS[:2])]))
    result = poll(workspace, sessions, T0 + EVERY)
    [slug] = result.drafted
    assert result.approved == []
    assert load_campaign(workspace.campaigns_dir / f"{slug}.md").status == "draft"
    notice = take_notice(workspace)
    assert notice is not None
    text = notice_text(notice)
    assert "Not approved automatically" in text and "{{ first_name }}" in text
    assert f"mailer approve {slug}" in text


def test_a_poll_that_cannot_write_the_draft_leaves_it_to_the_next(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:3])))
    workspace.campaigns_dir.rmdir()
    workspace.campaigns_dir.write_text("not a folder")  # the draft cannot be written
    failed = poll(workspace, sessions, T0 + EVERY)
    assert (failed.status, failed.found) == ("error", 1)
    assert "could not be written" in failed.error
    assert [r.state for r in entries(sessions)][-1] == "new"  # claimed, not drafted

    workspace.campaigns_dir.unlink()
    workspace.campaigns_dir.mkdir()
    answered = len(site.requests)
    finished = poll(workspace, sessions, T0 + 2 * EVERY)
    # Fetched in full (no validators): a 304 would have hidden the entry's content.
    assert "if-none-match" not in site.requests[answered]
    assert len(finished.drafted) == 1 and finished.found == 0
    assert "elbows close" in campaign_files(workspace)[0].read_text(encoding="utf-8")
    assert poll(workspace, sessions, T0 + 3 * EVERY).drafted == []
    assert len(campaign_files(workspace)) == 1


@pytest.mark.parametrize("written", [True, False])
@pytest.mark.both_databases
def test_a_crash_between_the_file_and_the_record_never_makes_a_second_draft(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite, written: bool
) -> None:
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:3])))
    [slug] = poll(workspace, sessions, T0 + EVERY).drafted
    path = workspace.campaigns_dir / f"{slug}.md"
    content = path.read_text(encoding="utf-8")
    # The state a crash leaves: the entry still claimed ("new"), its slug recorded, and the file
    # either written in full or only reserved (empty).
    with sessions.begin() as session:
        session.execute(
            update(FeedEntry).where(FeedEntry.campaign_slug == slug).values(state="new")
        )
    if not written:
        path.write_text("")
    result = poll(workspace, sessions, T0 + 2 * EVERY)
    assert result.drafted == [slug]
    assert campaign_files(workspace) == [path]
    assert path.read_text(encoding="utf-8") == content
    assert [r.state for r in entries(sessions)][-1] == "drafted"
    notice = take_notice(workspace)
    assert notice is not None and f"mailer approve {slug}" in notice_text(notice)


def test_backfill_drafts_the_newest_existing_articles_once(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    site.publish(rss(newest_first(POSTS[:3])))
    first = poll(workspace, sessions, T0, backfill=1)
    assert first.baseline == 2 and len(first.drafted) == 1
    assert load_campaign(campaign_files(workspace)[0]).subject == POSTS[2].title
    again = poll(workspace, sessions, T0 + EVERY, backfill=2)
    assert [load_campaign(workspace.campaigns_dir / f"{s}.md").subject for s in again.drafted] == [
        POSTS[1].title
    ]
    assert poll(workspace, sessions, T0 + 2 * EVERY, backfill=2).drafted == []
    assert len(campaign_files(workspace)) == 2


def test_no_feed_configured_is_reported_not_raised(
    workspace: Workspace, sessions: sessionmaker[Session]
) -> None:
    result = poll_feed(workspace, sessions, notify=notify_staff, now=T0)
    assert result.status == "off" and "feed.url" in result.error


def _poll_in_thread(
    database_url: str,
    workspace: Workspace,
    when: datetime,
    results: list[FeedPollResult],
    start: threading.Barrier | threading.Event,
) -> None:
    engine = make_engine(database_url)
    try:
        start.wait()
        results.append(poll(workspace, session_factory(engine), when))
    finally:
        engine.dispose()


@pytest.mark.both_databases
def test_two_polls_at_once_draft_each_entry_once(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite, database_url: str
) -> None:
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:4])))
    site.delay = 0.5  # both are inside their poll at the same time
    results: list[FeedPollResult] = []
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(
            target=_poll_in_thread, args=(database_url, workspace, T0 + EVERY, results, barrier)
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status for r in results) in (["busy", "ok"], ["not-modified", "ok"])
    assert len(campaign_files(workspace)) == 2
    assert sorted(s for r in results for s in r.drafted) == sorted(
        p.stem for p in campaign_files(workspace)
    )


@pytest.mark.both_databases
def test_a_poll_whose_lease_lapsed_still_cannot_draft_an_entry_twice(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite, database_url: str
) -> None:
    """Past the lease (a poll stuck for over 10 minutes), the claims alone keep drafts single."""
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:4])))
    site.delay = 0.6
    results: list[FeedPollResult] = []
    go = threading.Event()
    go.set()
    slow = threading.Thread(
        target=_poll_in_thread, args=(database_url, workspace, T0 + EVERY, results, go)
    )
    slow.start()
    while not site.requests[1:]:  # the first poll holds the lease and waits for the blog
        threading.Event().wait(0.01)
    late = threading.Thread(
        target=_poll_in_thread,
        args=(database_url, workspace, T0 + EVERY + timedelta(minutes=11), results, go),
    )
    late.start()
    slow.join(30)
    late.join(30)
    assert [r.status for r in results] == ["ok", "ok"]  # both ran: the lease had lapsed
    files = campaign_files(workspace)
    assert len(files) == 2
    assert all(f.stat().st_size > 0 for f in files)
    assert sorted(s for r in results for s in r.drafted) == sorted(f.stem for f in files)


@pytest.mark.both_databases
def test_a_poll_while_another_holds_the_feed_lease_answers_busy(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite, database_url: str
) -> None:
    """Issue 11 item 2: one Lease implementation. A second poll while the first waits for the
    blog answers "busy" through the shared store.leases.Lease (a scheduler_leases row named
    feed:<hash>); once the first is done, the next poll of the same clock runs."""
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:3])))
    site.delay = 0.6
    results: list[FeedPollResult] = []
    go = threading.Event()
    go.set()
    first = threading.Thread(
        target=_poll_in_thread, args=(database_url, workspace, T0 + EVERY, results, go)
    )
    first.start()
    while not site.requests[1:] and first.is_alive():  # it holds the lease, waits for the blog
        threading.Event().wait(0.01)
    holder = poll_lease(sessions, site.url).holder()
    assert holder is not None and holder.expires_at > T0 + EVERY
    second = poll(workspace, sessions, T0 + EVERY)
    first.join(30)
    assert second.status == "busy"
    assert [r.status for r in results] == ["ok"] and len(results[0].drafted) == 1
    with sessions() as session:
        names = list(session.scalars(select(SchedulerLease.name)))
    assert names == [poll_lease(sessions, site.url).name]
    assert names[0].startswith("feed:") and len(names[0]) <= 50
    site.delay = 0
    assert poll(workspace, sessions, T0 + EVERY).status in ("ok", "not-modified")


@pytest.mark.both_databases
def test_the_feed_lease_is_taken_from_a_dead_poll_on_this_host_not_from_a_live_one(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    """Issue 11 item 2: the feed poll's lease is the scheduler's Lease, with its rules: a live
    holder (another host) makes the poll busy until it lapses; a holder that was a process on
    this host and is gone is taken over at once."""
    connect(workspace, sessions, site, POSTS[:2])
    name = poll_lease(sessions, site.url).name
    elsewhere = Lease(sessions, name=name, ttl=POLL_LEASE, owner="another-host:4242:cafe1234")
    assert elsewhere.try_acquire(T0 + EVERY)
    assert poll(workspace, sessions, T0 + EVERY).status == "busy"
    assert poll(workspace, sessions, T0 + EVERY + POLL_LEASE).status in ("ok", "not-modified")

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = Lease(
        sessions,
        name=name,
        ttl=POLL_LEASE,
        owner=f"{socket.gethostname()}:{gone.stdout.strip()}:dead0000",
    )
    later = T0 + 3 * POLL_LEASE
    assert dead.try_acquire(later)
    site.publish(rss(newest_first(POSTS[:3])))
    result = poll(workspace, sessions, later + timedelta(seconds=1))
    assert result.status == "ok" and len(result.drafted) == 1


@pytest.mark.both_databases
def test_two_polls_holding_the_same_claimed_entry_write_one_draft(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    """The interleaving the threads above rarely hit, made certain: two polls read the same
    claimed entry, then each tries to draft it. The compare-and-set on its slug lets one win;
    the other drafts nothing and removes the file it had reserved."""
    from mailer.feed.drafting import Known, write_draft  # a poll's steps, run by hand
    from mailer.feed.entries import take

    connect(workspace, sessions, site, POSTS[:2])
    with sessions.begin() as session:  # a claim, as a poll makes it, not yet drafted
        session.add(
            FeedEntry(
                feed_url=site.url,
                entry_key=entry_key("summit-" + POSTS[2].slug),
                entry_id="summit-" + POSTS[2].slug,
                title=POSTS[2].title,
                url=POSTS[2].link,
                seen_at=T0,
                state="new",
            )
        )
    site.publish(rss(newest_first(POSTS[:3])))
    from mailer.feed.poll import _read_entries

    known = Known(_read_entries(site.body, site.url), site.url)
    [row] = [r for r in entries(sessions) if r.state == "new"]
    first, second = known.entry(row), known.entry(row)  # both read it before either drafts
    ws = Workspace(workspace.root)
    assert take(sessions, [first], "reserved-by-the-first-poll") == [first]
    # The second poll tries while the first is between recording its slug and writing.
    assert write_draft(ws, sessions, site.url, [second], [], None, T0 + EVERY) is None
    assert campaign_files(workspace) == []  # the file it had reserved is gone again
    won = write_draft(ws, sessions, site.url, [first], [], None, T0 + EVERY)
    assert won is not None
    assert campaign_files(workspace) == [won.path]
    assert [r.state for r in entries(sessions)][-1] == "drafted"


def test_feed_report_shows_the_last_poll_and_the_drafts_waiting(
    workspace: Workspace, sessions: sessionmaker[Session], site: FeedSite
) -> None:
    assert feed_report(sessions, site.url) is None
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:4])))
    drafted = poll(workspace, sessions, T0 + EVERY).drafted
    report = feed_report(sessions, site.url, workspace.campaigns_dir)
    assert report is not None
    assert (report.status, report.found, report.polled_at) == ("ok", 2, T0 + EVERY)
    assert report.connected_at == T0
    assert report.drafts_waiting == tuple(drafted)
    assert re.search(
        r"2 new articles; drafted campaigns/.*\.md \(waiting for approval\)", report.detail
    )
    assert report.as_dict()["polled_at"] == (T0 + EVERY).isoformat()

    approved = load_campaign(workspace.campaigns_dir / f"{drafted[0]}.md")
    mark_approved(approved, T0)
    save_campaign(approved, workspace.campaigns_dir / f"{drafted[0]}.md")
    report = feed_report(sessions, site.url, workspace.campaigns_dir)
    assert report is not None and report.drafts_waiting == (drafted[1],)
    site.status = 500
    poll(workspace, sessions, T0 + 2 * EVERY)
    report = feed_report(sessions, site.url)
    assert report is not None and report.status == "error" and "500" in report.detail
