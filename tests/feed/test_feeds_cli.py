"""`mailer feed poll` as staff run it, and the [feed] settings it reads."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest

from mailer.campaigns.campaign import load_campaign
from mailer.config import load_settings
from mailer.errors import ConfigError
from mailer.workspace import Workspace
from tests.cli_runner import MAILER, Mailer
from tests.feed_server import POSTS, FeedSite, rss, serve_feed


@pytest.fixture
def site(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedSite]:
    with serve_feed() as served:
        monkeypatch.setenv("MAILER_FEED__URL", served.url)
        served.publish(rss(POSTS[1::-1]))
        yield served


@pytest.mark.slow
def test_poll_without_a_feed_url_says_where_to_set_it(mailer: Mailer, workspace: Workspace) -> None:
    result = mailer("feed", "poll", process=True)
    assert result.exit_code == 2
    assert "feed.url is empty" in result.stderr and "mailer.toml" in result.stderr
    assert "[feed]" in result.stderr
    assert "Traceback" not in result.stderr


def test_poll_prints_what_it_found_and_what_to_do_next(
    mailer: Mailer, workspace: Workspace, site: FeedSite
) -> None:
    first = mailer("feed", "poll")
    assert first.exit_code == 0, first.stdout + first.stderr
    assert "connected: 2 articles already in the feed noted, not drafted" in first.stdout
    assert list(workspace.campaigns_dir.glob("*.md")) == []

    site.publish(rss(POSTS[2::-1]))
    second = mailer("feed", "poll")
    assert second.exit_code == 0, second.stdout + second.stderr
    [path] = workspace.campaigns_dir.glob("*.md")
    assert "1 new article." in second.stdout
    assert f"draft waiting: {path}" in second.stdout
    assert f"mailer approve {path.stem}" in second.stdout
    assert "Staff were emailed about it." in second.stdout
    assert load_campaign(path).status == "draft"

    third = mailer("feed", "poll", "--json")
    assert third.exit_code == 0, third.stdout + third.stderr
    document = json.loads(third.stdout)
    assert document["status"] == "not-modified" and document["drafted"] == []


@pytest.mark.slow
def test_a_failed_poll_exits_1_with_the_address_and_a_hint(
    mailer: Mailer, workspace: Workspace, site: FeedSite
) -> None:
    site.status = 500
    result = mailer("feed", "poll", process=True)
    assert result.exit_code == 1
    assert f"feed {site.url}: the server answered 500" in result.stderr
    assert "the next poll tries again" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_backfill_on_the_command_line(mailer: Mailer, workspace: Workspace, site: FeedSite) -> None:
    result = mailer("feed", "poll", "--backfill", "1", process=True)
    assert result.exit_code == 0, result.stderr
    [path] = workspace.campaigns_dir.glob("*.md")
    assert load_campaign(path).subject == POSTS[1].title


@pytest.mark.both_databases
@pytest.mark.slow
def test_two_processes_polling_at_once_draft_each_article_once(
    mailer: Mailer, workspace: Workspace, site: FeedSite, database_url: str
) -> None:
    env = {"MAILER_DATABASE__URL": database_url}
    assert mailer("feed", "poll", env={**os.environ, **env}, process=True).exit_code == 0
    site.publish(rss(POSTS[4::-1]))
    site.delay = 1.0  # the two are inside their poll at the same time
    command = [MAILER, "--workspace", str(workspace.root), "feed", "poll"]
    processes = [
        subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    drafts = sorted(workspace.campaigns_dir.glob("*.md"))
    assert sorted(load_campaign(path).subject for path in drafts) == sorted(
        post.title for post in POSTS[2:5]
    )
    printed = "".join(out for out, _ in outputs)
    assert sum(printed.count(f"draft waiting: {path}") for path in drafts) == 3


def _settings(workspace: Workspace, **feed: str) -> timedelta:
    environ = {f"MAILER_FEED__{key.upper()}": value for key, value in feed.items()}
    return load_settings(workspace.config_path, environ).feed.poll_every


def test_poll_every_defaults_to_15_minutes_and_reads_durations(workspace: Workspace) -> None:
    assert _settings(workspace) == timedelta(minutes=15)
    assert _settings(workspace, poll_every="1h") == timedelta(hours=1)
    assert _settings(workspace, poll_every="2m") == timedelta(minutes=2)
    text = workspace.config_path.read_text(encoding="utf-8")
    assert 'poll_every = "15m"' in text and "auto_approve = false" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30s", "at least one minute"), ("soon", 'a duration such as "30m"')],
)
def test_poll_every_refuses_what_it_cannot_use(
    workspace: Workspace, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(workspace, poll_every=value)
    assert "MAILER_FEED__POLL_EVERY" in caught.value.message
    assert "feed.poll_every" in caught.value.message and expected in caught.value.message


def test_feed_url_must_be_a_web_address(workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match=r"feed\.url: expected an http:// or https:// address"):
        load_settings(workspace.config_path, {"MAILER_FEED__URL": "blog/rss.xml"})
