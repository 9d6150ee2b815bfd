"""`mailer preview`: the three files, exactly as a subscriber gets the message."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest

from mailer.cli.common import state
from mailer.store.db import open_database, transaction
from mailer.subscribers.service import add_subscriber
from mailer.tokens import KIND_PREVIEW_UNSUBSCRIBE, SecretKey, read_token
from mailer.workspace import Workspace
from tests.cli_runner import Mailer

CAMPAIGN = """---
subject: Spring tune-up for your neck
preheader: Three habits that help
status: draft
---
We hope your spring is off to a good start.

[[cta]]

## Why your neck matters

[[button "Read the full article" https://www.summitspine.example/blog/neck]]
"""


@pytest.fixture(autouse=True)
def fresh_cli_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(state, "_workspace", None)
    monkeypatch.setattr(state, "_db", None)
    yield


def preview(mailer: Mailer, workspace: Workspace, out: Path) -> tuple[int, str]:
    (workspace.campaigns_dir / "2026-03-10-spring.md").write_text(CAMPAIGN, encoding="utf-8")
    result = mailer("preview", "2026-03-10-spring", "--out", str(out), workspace=workspace)
    return result.exit_code, result.stdout


def read_eml(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def test_preview_writes_html_text_and_eml(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "preview"
    code, stdout = preview(mailer, workspace, out)
    assert code == 0, stdout
    html_file, text_file, eml_file = (
        out / f"2026-03-10-spring.{ext}" for ext in ("html", "txt", "eml")
    )
    assert html_file.is_file() and text_file.is_file() and eml_file.is_file()

    message = read_eml(eml_file)
    settings = workspace.settings
    assert message["Subject"] == "Spring tune-up for your neck"
    assert message["From"].addresses[0].addr_spec == settings.sender.from_email
    assert message["From"].addresses[0].display_name == settings.sender.from_name
    assert message["Reply-To"] == settings.sender.reply_to
    assert message["To"].addresses[0].addr_spec == "alex@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"])
    assert unsubscribe.startswith(f"<{settings.web.base_url}/u/") and unsubscribe.endswith(">")
    token = unsubscribe.strip("<>").rsplit("/u/", 1)[1]
    found = read_token(SecretKey.for_workspace(workspace), token, KIND_PREVIEW_UNSUBSCRIBE)
    assert (found.campaign, found.subscriber_id) == ("2026-03-10-spring", 0)
    assert str(message["List-Id"]) == (
        '"Summit Upper Cervical Chiropractic" '
        "<summit-upper-cervical-chiropractic.summitspine.example>"
    )

    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    assert html_part.get_content().replace("\r\n", "\n") == html_file.read_text(encoding="utf-8")
    assert text_part.get_content().replace("\r\n", "\n") == text_file.read_text(encoding="utf-8")
    assert "Hi Alex," in html_file.read_text(encoding="utf-8")
    assert unsubscribe.strip("<>") in text_file.read_text(encoding="utf-8")
    assert settings.organization.postal_address in text_file.read_text(encoding="utf-8")


def test_preview_uses_first_active_subscriber(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    _, sessions = open_database(workspace.database_url)
    with transaction(sessions) as session:
        add_subscriber(session, "gone@example.com", first_name="Gone", status="unsubscribed")
        add_subscriber(session, "maria@example.com", first_name="Maria", last_name="Lopez")
    code, _ = preview(mailer, workspace, tmp_path / "out")
    assert code == 0
    message = read_eml(tmp_path / "out" / "2026-03-10-spring.eml")
    assert message["To"].addresses[0].addr_spec == "maria@example.com"
    assert "Hi Maria," in (tmp_path / "out" / "2026-03-10-spring.html").read_text()


def test_preview_template_error_is_one_clear_message(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    with (workspace.templates_dir / "_footer.mjml.j2").open("a", encoding="utf-8") as handle:
        handle.write("{{ ''.__class__.__mro__ }}\n")
    code, _ = preview(mailer, workspace, tmp_path / "out")
    assert code == 1
    assert not (tmp_path / "out" / "2026-03-10-spring.eml").exists()
