"""`mailer draft` as staff run it: files in, a campaign file out, its path on the last line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailer.campaigns.campaign import load_campaign
from mailer.cli.common import state
from mailer.errors import ArticleError, UsageError
from mailer.workspace import Workspace
from tests.cli_runner import Mailer

ARTICLE_MD = """---
title: Why Headaches Start in the Neck
url: https://www.summitspine.example/blog/headaches
---

Most people who come to us with headaches have already tried new pillows, less coffee and a
better chair. Few have looked at the top of the neck, where the skull rests on two small bones.
Those bones carry your head all day. When one shifts a little, the muscles around it tighten.

Over weeks that tension pulls on the base of the skull. Patients describe a band of pressure
that starts at the back of the head and wraps around to the temples. It often gets worse late in
the day, after hours at a desk or behind the wheel.

## What we check first

We listen to your history, then look at posture, head tilt and leg length.

## What you can try this week

Take a short break from screens every hour and roll your shoulders back.
"""

ARTICLE_TXT = """Three Habits for a Happier Neck

Your neck works hard all day. Small habits can give it a rest. Here are three we suggest.

Screen height

Raise your screen so the top of it sits at eye level.

Pillow choice

Pick a pillow that keeps your head level with your spine.
"""


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Summit Upper Cervical blog</title>
<link>https://www.summitspine.example/blog</link>
<description>Articles from the clinic</description>
{items}
</channel></rss>
"""
ITEM = """<item><title>{title}</title><link>https://www.summitspine.example/blog/{slug}</link>
<pubDate>{day} Nov 2026 09:00:00 +0000</pubDate>
<description>{title} explained by our team. Read it before your next visit.</description></item>"""
POSTS = [
    ("Sitting Well at Work", "sitting", "10"),
    ("Why Headaches Start in the Neck", "headaches", "17"),
    ("Walking After an Adjustment", "walking", "03"),
]


def write(workspace: Workspace, name: str, text: str) -> Path:
    path = workspace.root / name
    path.write_text(text, encoding="utf-8")
    return path


def test_draft_prints_the_new_file_as_last_line(mailer: Mailer, workspace: Workspace) -> None:
    source = write(workspace, "headaches.md", ARTICLE_MD)
    result = mailer("draft", str(source))
    assert result.exit_code == 0, (result.stdout, result.error)
    last = Path(result.stdout.rstrip("\n").splitlines()[-1])
    path = last if last.is_absolute() else Path.cwd() / last
    assert path.parent == workspace.campaigns_dir
    assert path.name.endswith("-why-headaches-start-in-the-neck.md")
    campaign = load_campaign(path)
    assert campaign.status == "draft"
    assert campaign.subject == "Why Headaches Start in the Neck"
    assert campaign.cta == {
        "text": "Book your free consultation",
        "url": "https://www.summitspine.example/book",
    }
    # the article's own address gives a teaser with a link to it
    assert "https://www.summitspine.example/blog/headaches]]" in campaign.body
    assert campaign.body.count("[[cta]]") == 2
    # the summary names what to do next
    assert f"mailer preview {campaign.slug} --out preview/" in result.stdout


def test_draft_with_url_option_and_collision(mailer: Mailer, workspace: Workspace) -> None:
    source = write(workspace, "habits.txt", ARTICLE_TXT)
    url = "https://www.summitspine.example/blog/neck-habits"
    first = mailer("draft", str(source)).stdout
    result = mailer("draft", str(source), "--url", url)
    assert result.exit_code == 0, (result.stdout, result.error)
    first_path = first.rstrip("\n").splitlines()[-1]
    second_path = result.stdout.rstrip("\n").splitlines()[-1]
    assert Path(second_path).resolve().parent == workspace.campaigns_dir
    assert second_path == first_path.removesuffix(".md") + "-2.md"
    without = load_campaign(Path(first_path))
    with_url = load_campaign(Path(second_path))
    assert "[[button" not in without.body  # no address: the whole article
    assert f'[[button "Read the full article" {url}]]' in with_url.body
    assert with_url.articles[0].url == url


def test_several_sources_make_a_digest(mailer: Mailer, workspace: Workspace) -> None:
    first = write(workspace, "headaches.md", ARTICLE_MD)
    second = write(workspace, "habits.txt", ARTICLE_TXT)
    result = mailer("draft", str(first), str(second))
    assert result.exit_code == 0, (result.stdout, result.error)
    path = Path(result.stdout.rstrip("\n").splitlines()[-1])
    assert path.resolve().parent == workspace.campaigns_dir
    campaign = load_campaign(path)
    assert [a.title for a in campaign.articles] == [
        "Why Headaches Start in the Neck",
        "Three Habits for a Happier Neck",
    ]
    assert "## More from the blog" in campaign.body
    assert "### Three Habits for a Happier Neck" in campaign.body


@pytest.mark.parametrize("mode", ["single", "digest"])
def test_feed_gives_its_newest_entry_or_a_digest(
    mailer: Mailer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    items = "\n".join(ITEM.format(title=t, slug=s, day=d) for t, s, d in POSTS)
    feed = write(workspace, "blog.xml", FEED.format(items=items))
    monkeypatch.setenv("MAILER_FEED__MODE", mode)
    result = mailer("draft", str(feed))
    assert result.exit_code == 0, (result.stdout, result.error)
    campaign = load_campaign(Path(result.stdout.rstrip("\n").splitlines()[-1]))
    assert campaign.subject.startswith("Why Headaches Start in the Neck")  # the newest
    urls = [a.url.rsplit("/", 1)[-1] for a in campaign.articles]
    assert urls == (["headaches"] if mode == "single" else ["headaches", "sitting", "walking"])


def test_more_urls_than_sources_is_a_usage_error(mailer: Mailer, workspace: Workspace) -> None:
    first = write(workspace, "headaches.md", ARTICLE_MD)
    urls = ["--url", "https://x.example/a", "--url", "https://x.example/b"]
    error = mailer("draft", str(first), *urls, "--url", "https://x.example/c").error
    assert isinstance(error, UsageError)
    assert "once per source" in str(error)
    assert error.hint
    assert list(workspace.campaigns_dir.glob("*.md")) == []


def test_url_without_scheme_is_a_usage_error(mailer: Mailer, workspace: Workspace) -> None:
    source = write(workspace, "habits.txt", ARTICLE_TXT)
    error = mailer("draft", str(source), "--url", "www.summitspine.example/blog").error
    assert isinstance(error, UsageError)
    assert "https://" in (error.hint or "")
    assert list(workspace.campaigns_dir.glob("*.md")) == []


def test_missing_source_is_an_article_error_and_writes_nothing(
    mailer: Mailer, workspace: Workspace
) -> None:
    error = mailer("draft", str(workspace.root / "nowhere.txt")).error
    assert isinstance(error, ArticleError)
    assert "nowhere.txt" in error.message
    assert list(workspace.campaigns_dir.glob("*.md")) == []


@pytest.mark.slow
def test_installed_command_in_a_workspace(mailer: Mailer, workspace: Workspace) -> None:
    """The Contract end to end: the real command, run inside the workspace."""
    write(workspace, "habits.txt", ARTICLE_TXT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    result = mailer(
        "draft", "habits.txt", workspace=None, cwd=workspace.root, env=env, process=True
    )
    assert result.exit_code == 0, result.stderr
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith("campaigns/") and last.endswith("-three-habits-for-a-happier-neck.md")
    assert (workspace.root / last).is_file()


@pytest.mark.slow
def test_missing_source_from_the_installed_command_is_one_clear_message(
    mailer: Mailer,
    workspace: Workspace,
) -> None:
    result = mailer("draft", "nowhere.txt", process=True)
    assert result.exit_code == 1
    assert "nowhere.txt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(autouse=True)
def _fresh_cli(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    # Printed paths are relative to the current folder: run from the workspace's parent.
    monkeypatch.chdir(workspace.root.parent)
    # The CLI caches the workspace for the life of the process; each test has its own.
    monkeypatch.setattr(state, "_workspace", None)
    monkeypatch.setattr(state, "_db", None)
