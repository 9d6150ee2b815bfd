"""`mailer send` through the smtp provider to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import SLUG, fill_list, write_campaign
from tests.fakes.smtp_server import FakeSmtp


@pytest.mark.slow
def test_every_subscriber_gets_one_lawful_message_over_smtp(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    emails = fill_list(sessions, tmp_path, 40)
    with FakeSmtp(refuse={"reader000007@example.com"}) as server:
        env = {
            "MAILER_DATABASE__URL": database_url,
            "MAILER_DELIVERY__PROVIDER": "smtp",
            "MAILER_DELIVERY__BATCH_SIZE": "15",
            "MAILER_SMTP__HOST": "127.0.0.1",
            "MAILER_SMTP__PORT": str(server.port),
            "MAILER_SMTP__SECURITY": "none",
            "MAILER_SECRET_KEY": "smtp-test-secret-0123456789abcdef",
            "MAILER_WEB__BASE_URL": "https://news.summitspine.example",
            "PATH": __import__("os").environ["PATH"],
        }
        write_campaign(workspace, sessions, env)
        result = mailer("send", SLUG, "--yes", env=env, process=True)
        assert result.exit_code == 0, result.stdout + result.stderr
        assert "39 sent, 1 refused" in result.stdout
        messages = server.messages
        assert server.connections == 1  # one connection reused across batches

    received = sorted(m.rcpt_tos[0] for m in messages)
    assert received == sorted(e for e in emails if e != "reader000007@example.com")
    unsubscribe_links = set()
    for item in messages:
        message = item.parsed()
        assert message["From"] == "Summit Upper Cervical <news@summitspine.example>"
        assert message["Reply-To"] == "frontdesk@summitspine.example"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Id"]
        link = re.fullmatch(
            r"<(https://news\.summitspine\.example/u/\S+)>", message["List-Unsubscribe"]
        )
        assert link, message["List-Unsubscribe"]
        unsubscribe_links.add(link.group(1))
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "1200 Pearl Street" in text and "1200 Pearl Street" in html
        assert link.group(1) in html and link.group(1) in text
        assert "https://news.summitspine.example/c/" in html  # clicks tracked (UTM on target)
        assert len(html.encode()) < 100_000
    assert len(unsubscribe_links) == len(messages)  # a token per person

    report = mailer("report", SLUG, "--json", env=env, process=True)
    assert '"sent": 39' in report.stdout and '"failed": 1' in report.stdout
