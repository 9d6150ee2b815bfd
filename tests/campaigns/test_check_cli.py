"""`mailer check` and `mailer approve` as staff run them: exit codes, JSON, the file's status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.campaigns.campaign import load_campaign
from mailer.cli.common import state
from mailer.workspace import Workspace
from tests.cli_runner import Mailer

CLEAN = """---
subject: Spring tune-up for your neck
preheader: Three habits that help
status: draft
---
We hope your spring is off to a good start.

[[cta]]

## Why your neck matters

Small shifts at the top of the spine change how you carry your head.

[[button "Read the full article" https://www.summitspine.example/blog/neck]]
"""


@pytest.fixture(autouse=True)
def public_base_url(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in production: links point at a public address (a loopback one is a warning)."""
    monkeypatch.setenv("MAILER_WEB__BASE_URL", "https://news.summitspine.example")


@pytest.fixture(autouse=True)
def fresh_cli_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI caches its workspace per process; each test starts from none."""
    monkeypatch.setattr(state, "_workspace", None)
    monkeypatch.setattr(state, "_db", None)
    yield


def write_campaign(workspace: Workspace, text: str, slug: str = "2026-03-10-spring") -> Path:
    path = workspace.campaigns_dir / f"{slug}.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_json_clean(mailer: Mailer, workspace: Workspace) -> None:
    write_campaign(workspace, CLEAN)
    result = mailer("check", "2026-03-10-spring", "--json", "--no-spam")
    document = json.loads(result.stdout)  # one JSON document and nothing else on stdout
    assert result.exit_code == 0
    assert document["campaign"] == "2026-03-10-spring"
    assert document["ok"] is True and document["errors"] == 0
    assert document["findings"] == []


def test_check_json_with_errors_exits_1(mailer: Mailer, workspace: Workspace) -> None:
    broken = CLEAN.replace("subject: Spring tune-up for your neck\n", "").replace(
        "## Why", "![](https://www.summitspine.example/x.png)\n\n## Why"
    )
    path = write_campaign(workspace, broken)
    result = mailer("check", str(path), "--json", "--no-spam")
    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert document["ok"] is False
    assert {f["code"] for f in document["findings"] if f["level"] == "error"} == {
        "missing-subject",
        "image-missing-alt",
    }
    assert all(set(f) == {"level", "code", "message", "hint"} for f in document["findings"])


def test_check_human_output(mailer: Mailer, workspace: Workspace) -> None:
    write_campaign(workspace, CLEAN.replace("preheader: Three habits that help\n", ""))
    result = mailer("check", "2026-03-10-spring", "--no-spam")
    assert result.exit_code == 0
    assert "no preheader" in result.stdout
    assert "No errors" in result.stdout and "mailer approve 2026-03-10-spring" in result.stdout


def test_check_unknown_campaign_is_a_clear_error(mailer: Mailer, workspace: Workspace) -> None:
    result = mailer("check", "nope")
    assert result.exit_code != 0
    assert "no campaign 'nope'" in str(result.error)


def test_approve_with_errors_changes_nothing(mailer: Mailer, workspace: Workspace) -> None:
    path = write_campaign(workspace, CLEAN + "\nHello {{ name }}\n")
    before = path.read_bytes()
    result = mailer("approve", "2026-03-10-spring")
    assert result.exit_code == 1
    assert "Not approved" in result.stdout
    assert path.read_bytes() == before
    assert load_campaign(path).status == "draft"


def test_approve_clean_campaign_sets_status(mailer: Mailer, workspace: Workspace) -> None:
    path = write_campaign(workspace, CLEAN)
    result = mailer("approve", "2026-03-10-spring")
    assert result.exit_code == 0
    assert "Approved" in result.stdout and "scheduler" in result.stdout
    approved = load_campaign(path)
    assert approved.status == "approved"
    assert approved.subject == "Spring tune-up for your neck"
    assert "[[cta]]" in approved.body  # the body is kept as staff wrote it


def test_check_json_unreadable_campaign_is_still_one_document(
    mailer: Mailer, workspace: Workspace
) -> None:
    write_campaign(workspace, "---\nsubject: Spring\nstatus: [unclosed\n---\nBody\n")
    result = mailer("check", "2026-03-10-spring", "--json", "--no-spam")
    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [f["code"] for f in document["findings"]] == ["campaign-error"]
    assert "2026-03-10-spring.md" in document["findings"][0]["message"]
