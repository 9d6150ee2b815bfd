"""Issue 12 item 3: every entry of a digest of page exports can link to its article.

`--url` is given once per source, in order; an address filled into the front matter after
drafting is honoured when the campaign renders; `mailer check` warns about an entry without one.
"""

from __future__ import annotations

import re
from pathlib import Path

from mailer.campaigns.campaign import load_campaign
from mailer.campaigns.check import check_campaign
from mailer.campaigns.render import render_campaign
from mailer.workspace import Workspace
from tests.cli_runner import Mailer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"
BALANCE = "https://www.summitspine.example/blog/balance"
SLEEP = "https://www.summitspine.example/blog/sleep"
DESK = "https://www.summitspine.example/blog/desk"
SOURCES = [str(FIXTURES / name) for name in ("balance-upper-neck.txt", "sleep-stiff-neck.txt")]


def draft(mailer: Mailer, *args: str) -> Path:
    result = mailer("draft", *args)
    assert result.exit_code == 0, (result.stdout + result.stderr, result.error)
    return Path(result.stdout.rstrip("\n").splitlines()[-1])


def read_more_targets(workspace: Workspace, path: Path) -> list[str]:
    rendered = render_campaign(workspace, load_campaign(path))
    return [link.url.split("?")[0] for link in rendered.links if link.text == "Read more"]


def test_one_url_per_source_links_every_entry(mailer: Mailer, workspace: Workspace) -> None:
    path = draft(mailer, *SOURCES, "--url", BALANCE, "--url", SLEEP)
    campaign = load_campaign(path)
    assert [(a.title, a.url) for a in campaign.articles] == [
        ("How Your Upper Neck Affects Your Balance", BALANCE),
        ("Sleep Better and Wake Without a Stiff Neck", SLEEP),
    ]
    assert f'[[button "Read the full article" {BALANCE}]]' in campaign.body
    entry = campaign.body.split("### Sleep Better and Wake Without a Stiff Neck", 1)[1]
    assert entry.strip().split("\n\n")[1] == f'[[button "Read more" {SLEEP}]]'  # after its text
    assert read_more_targets(workspace, path) == [SLEEP]


def test_an_empty_url_skips_a_source_that_needs_none(mailer: Mailer, workspace: Workspace) -> None:
    path = draft(mailer, *SOURCES, str(FIXTURES / "desk-posture-steps.txt"),
                 "--url", BALANCE, "--url", "", "--url", DESK)  # fmt: skip
    campaign = load_campaign(path)
    assert [a.url for a in campaign.articles] == [BALANCE, "", DESK]


def test_front_matter_url_filled_later_is_honoured_and_check_stops_warning(
    mailer: Mailer,
    workspace: Workspace,
) -> None:
    path = draft(mailer, *SOURCES, "--url", BALANCE)
    campaign = load_campaign(path)
    assert campaign.articles[1].url == ""
    assert read_more_targets(workspace, path) == []
    warnings = [
        f for f in check_campaign(workspace, campaign, spam=False).warnings
        if f.code == "digest-entry-without-link"
    ]  # fmt: skip
    assert len(warnings) == 1
    assert "Sleep Better and Wake Without a Stiff Neck" in warnings[0].message
    assert "url:" in warnings[0].hint

    # staff fill in the address in the front matter, nothing in the body
    text = path.read_text()
    text = re.sub(r'(title: "Sleep Better[^\n]*\n\s+url: )""', rf'\1"{SLEEP}"', text)
    path.write_text(text)
    campaign = load_campaign(path)
    assert campaign.articles[1].url == SLEEP
    assert SLEEP not in campaign.body
    assert read_more_targets(workspace, path) == [SLEEP]
    rendered = render_campaign(workspace, campaign)
    entry_text = rendered.text.split("Sleep Better and Wake Without a Stiff Neck\n---", 1)[1]
    assert entry_text.index("Read more:") < entry_text.index("Have a question")
    findings = check_campaign(workspace, campaign, spam=False).findings
    assert "digest-entry-without-link" not in {f.code for f in findings}


def test_an_entry_url_that_is_no_web_address_gets_no_button_and_a_warning(
    mailer: Mailer,
    workspace: Workspace,
) -> None:
    path = draft(mailer, *SOURCES, "--url", BALANCE)
    text = path.read_text()
    text = re.sub(r'(title: "Sleep Better[^\n]*\n\s+url: )""', r'\1"javascript:alert(1)"', text)
    path.write_text(text)
    campaign = load_campaign(path)
    assert read_more_targets(workspace, path) == []
    assert "javascript:" not in render_campaign(workspace, campaign).html
    warnings = [f.message for f in check_campaign(workspace, campaign, spam=False).warnings]
    assert any("'javascript:alert(1)', not a web address" in message for message in warnings)
