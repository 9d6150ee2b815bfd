"""`--json` on the commands that report: send, subscribers import, approve (issue 18 item 6).

Each prints exactly one JSON document on stdout (the whole of stdout parses), keeps its exit
status, and does the same work as without --json. Real `mailer` processes, both databases.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import CAMPAIGN, SLUG, fill_list, write_campaign

pytestmark = pytest.mark.slow  # every test runs real `mailer` processes


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.pop("SENDGRID_API_KEY", None)
    env["MAILER_DATABASE__URL"] = database_url
    return env


def _json(mailer: Mailer, database_url: str, *args: str, code: int = 0) -> Any:
    result = mailer(*args, "--json", env=_env(database_url), process=True)
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)  # all of stdout is the one document


def test_send_json(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 18 item 6: `mailer send --json` for a dry run, a test copy, the send itself and a
    send that already finished; the progress and summary lines stay off stdout."""
    fill_list(sessions, tmp_path, 7)
    write_campaign(workspace, sessions)
    dry = _json(mailer, database_url, "send", SLUG, "--dry-run")
    assert dry["outcome"] == "dry-run" and dry["recipients"] == 7
    assert dry["dry_run"]["audience"] == 7 and dry["provider"] == "outbox"

    test = _json(mailer, database_url, "send", SLUG, "--test-to", "me@clinic.example")
    assert test["outcome"] == "test-sent" and test["test_to"] == ["me@clinic.example"]

    sent = _json(mailer, database_url, "send", SLUG, "--yes")
    assert sent["outcome"] == "finished" and sent["recipients"] == 7
    assert sent["counts"]["sent"] == 7 and sent["paused_reason"] is None
    delivered = [
        p for p in (workspace.outbox_dir / SLUG).glob("*.eml") if not p.name.startswith("me@")
    ]
    assert len(delivered) == 7  # one per subscriber (the test copy is beside them)

    again = _json(mailer, database_url, "send", SLUG)
    assert again["outcome"] == "already-finished" and again["counts"]["sent"] == 7

    missing = _json(mailer, database_url, "send", "no-such-campaign", code=1)
    assert missing["error"]["type"] == "CampaignError"


def test_subscribers_import_json(
    mailer: Mailer, workspace: Workspace, database_url: str, tmp_path: Path
) -> None:
    """Issue 18 item 6: `mailer subscribers import --json`: the counts and the rejected rows."""
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(
        "Email,First Name\nana@example.com,Ana\nnot-an-address,Bo\nben@example.com,Ben\n",
        encoding="utf-8",
    )
    dry = _json(mailer, database_url, "subscribers", "import", str(csv_path), "--dry-run")
    assert dry["dry_run"] is True and dry["imported"] == 2 and dry["rejected"] == 1
    report = _json(mailer, database_url, "subscribers", "import", str(csv_path))
    assert (report["rows"], report["imported"], report["rejected"]) == (3, 2, 1)
    [reject] = report["sample_rejects"]
    assert reject["line"] == 3 and reject["reason"]
    assert Path(report["rejects_file"]).is_file()
    listed = _json(mailer, database_url, "subscribers", "list")
    assert sorted(p["email"] for p in listed) == ["ana@example.com", "ben@example.com"]


def test_approve_json(mailer: Mailer, workspace: Workspace, database_url: str) -> None:
    """Issue 18 item 6: `mailer approve --json`: approved or not, whether it changed, and the
    check's findings; a campaign with errors exits 1 and its file is left as it was."""
    path = workspace.campaigns_dir / f"{SLUG}.md"
    path.write_text(CAMPAIGN.replace("status: approved", "status: draft"), encoding="utf-8")
    first = _json(mailer, database_url, "approve", SLUG)
    assert first["approved"] is True and first["changed"] is True
    assert first["check"]["errors"] == 0 and 'status: "approved"' in path.read_text()
    second = _json(mailer, database_url, "approve", SLUG)
    assert second["approved"] is True and second["changed"] is False

    broken = workspace.campaigns_dir / "no-subject.md"
    broken.write_text(
        CAMPAIGN.replace("subject: Sleep position and neck pain", 'subject: ""').replace(
            "status: approved", "status: draft"
        ),
        encoding="utf-8",
    )
    before = broken.read_text()
    refused = _json(mailer, database_url, "approve", "no-subject", code=1)
    assert refused["approved"] is False and refused["changed"] is False
    assert refused["check"]["errors"] >= 1 and broken.read_text() == before
