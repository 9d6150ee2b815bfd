"""A poll whose lease lapsed while it still drafts, and the late poll that took the lease over:
the entry claims alone must keep every draft single (one file, one report, one staff notice).

The late poll is run inside the slow one at the exact step where the race happens, so the
interleaving that made test_feeds_poll.py's threaded test fail about 1 run in 4 under -n 2 is
made every time, on SQLite and PostgreSQL (both_databases)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

import mailer.feed.drafting as drafting
from mailer.feed.poll import FeedPollResult
from mailer.workspace import Workspace
from tests.feed.test_feeds_poll import EVERY, T0, campaign_files, connect, entries, newest_first
from tests.feed.test_feeds_poll import poll as poll_at
from tests.feed_server import POSTS, FeedSite, rss, serve_feed


@pytest.fixture
def site(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Any:
    with serve_feed() as served:
        monkeypatch.setenv("MAILER_FEED__URL", served.url)
        yield served


@pytest.mark.both_databases
@pytest.mark.parametrize("step", ["draft_campaign", "mark_drafted"])
def test_a_late_poll_that_finishes_a_live_polls_entry_does_not_report_it_twice(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    site: FeedSite,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    """The slow poll has taken its first entry (slug recorded, state still ``new``) and is
    about to write the file (draft_campaign: the file is reserved, empty) or to mark the entry
    drafted (mark_drafted: the file is written). Its lease has lapsed: a poll 11 minutes
    later runs right then, finds the entry unfinished and finishes it, as it would after a
    crash. The slow poll then goes on. Each draft must be reported by one poll only."""
    connect(workspace, sessions, site, POSTS[:2])
    site.publish(rss(newest_first(POSTS[:4])))
    late: list[FeedPollResult] = []
    original: Callable[..., Any] = getattr(drafting, step)

    def late_poll_first(*args: Any, **kwargs: Any) -> Any:
        if not late:  # once, in the slow poll; the late poll's own calls go straight through
            late.append(FeedPollResult(url="", status="busy"))
            late[0] = poll_at(workspace, sessions, T0 + EVERY + timedelta(minutes=11))
        return original(*args, **kwargs)

    monkeypatch.setattr(drafting, step, late_poll_first)
    slow = poll_at(workspace, sessions, T0 + EVERY)
    results = [slow, *late]
    assert [r.status for r in results] == ["ok", "ok"]  # both ran: the lease had lapsed
    files = campaign_files(workspace)
    assert len(files) == 2 and all(f.stat().st_size > 0 for f in files)
    assert sorted(s for r in results for s in r.drafted) == sorted(f.stem for f in files)
    assert [e.state for e in entries(sessions)][-2:] == ["drafted", "drafted"]
    assert sorted(e.campaign_slug for e in entries(sessions)[-2:]) == [f.stem for f in files]
    # One staff notice per poll that drafted something: each draft announced once.
    notices = sorted(workspace.outbox_dir.glob("staff-notice*/*.eml"))
    assert len(notices) == sum(1 for r in results if r.drafted)
