"""Secrets from files (<NAME>_FILE) and signing-key rotation (MAILER_SECRET_KEY_PREVIOUS)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from mailer.config import load_secrets, load_settings
from mailer.errors import ConfigError, TokenError
from mailer.store.models import SubscriberStatus
from mailer.tokens import SecretKey, make_token, read_token, unsubscribe_token
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

OLD_KEY, NEW_KEY = "old-secret-key-0123456789abcdef", "new-secret-key-fedcba9876543210"


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_secret_can_come_from_a_file(tmp_path: Path) -> None:
    """Issue 18 item 4: each secret variable also accepts <NAME>_FILE (Docker secrets, systemd
    credentials); one trailing newline (LF or CRLF) is dropped, nothing else."""
    environ = {
        "MAILER_SECRET_KEY_FILE": _file(tmp_path, "key", "k3y with  spaces \n"),
        "MAILER_SECRET_KEY_PREVIOUS_FILE": _file(tmp_path, "old", OLD_KEY + "\r\n"),
        "SENDGRID_API_KEY_FILE": _file(tmp_path, "sg", "SG.abc\n\n"),
        "MAILER_SMTP__PASSWORD_FILE": _file(tmp_path, "pw", "pässword"),
    }
    secrets = load_secrets(environ)
    assert secrets.secret_key and secrets.secret_key.get_secret_value() == "k3y with  spaces "
    assert secrets.secret_key_previous
    assert secrets.secret_key_previous.get_secret_value() == OLD_KEY
    assert secrets.sendgrid_api_key and secrets.sendgrid_api_key.get_secret_value() == "SG.abc\n"
    assert secrets.smtp_password and secrets.smtp_password.get_secret_value() == "pässword"


def test_a_setting_override_can_come_from_a_file(workspace: Workspace, tmp_path: Path) -> None:
    """Issue 18 item 4: MAILER_DATABASE__URL carries the database password, so it (like every
    MAILER_<SECTION>__<KEY>) takes the _FILE form too; the file's variable is not mistaken for
    an unknown key `url_file`."""
    url = "postgresql+psycopg://mailer:s3cret@db/mailer"
    environ = {"MAILER_DATABASE__URL_FILE": _file(tmp_path, "url", url + "\n")}
    assert load_settings(workspace.config_path, environ).database.url == url


def test_name_and_name_file_together_are_an_error(tmp_path: Path) -> None:
    """Issue 18 item 4: both set is ambiguous: an error naming both, not a silent choice."""
    environ = {"SENDGRID_API_KEY": "SG.x", "SENDGRID_API_KEY_FILE": _file(tmp_path, "k", "SG.y")}
    with pytest.raises(ConfigError) as caught:
        load_secrets(environ)
    assert "SENDGRID_API_KEY and SENDGRID_API_KEY_FILE" in caught.value.message
    assert "SG.x" not in str(caught.value) and "SG.y" not in str(caught.value)


@pytest.mark.slow
def test_an_unreadable_secret_file_stops_a_command_naming_variable_and_path(
    mailer: Mailer, unused_workspace: Workspace, tmp_path: Path
) -> None:
    """Issue 18 item 4: a missing file is a configuration error (exit 2) that names the
    variable and the path, before any work, without a traceback."""
    missing = tmp_path / "run" / "secrets" / "mailer_secret_key"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_SECRET_KEY_FILE"] = str(missing)
    result = mailer("subscribers", "list", env=env, process=True)
    assert result.exit_code == 2, result.stderr
    assert "MAILER_SECRET_KEY_FILE" in result.stderr and str(missing) in result.stderr
    assert "No such file" in result.stderr and "Traceback" not in result.stderr
    assert not (unused_workspace.root / "mailer.db").exists()  # stopped before opening the database


def test_tokens_signed_with_the_previous_key_are_read_new_ones_use_the_new_key() -> None:
    """Issue 18 item 4: after a rotation, links already sent (old key) keep working; every new
    token is signed with the new key alone."""
    rotated = SecretKey(NEW_KEY.encode(), previous=OLD_KEY.encode())
    old_token = unsubscribe_token(OLD_KEY, 42, "spring")
    assert read_token(rotated, old_token).subscriber_id == 42
    with pytest.raises(TokenError):
        read_token(SecretKey(NEW_KEY.encode()), old_token)  # without PREVIOUS: refused

    new_token = make_token(rotated, "u", 42, "spring")
    assert read_token(NEW_KEY, new_token).subscriber_id == 42
    with pytest.raises(TokenError):
        read_token(OLD_KEY, new_token)
    with pytest.raises(TokenError):  # a token signed elsewhere is still refused
        read_token(rotated, unsubscribe_token("another-newsletter-key-000000", 42, "spring"))


@pytest.fixture
def rotated_server_env(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mailer serve` started after the rotation: the new key, the old one as PREVIOUS (from
    files, as Docker secrets give them)."""
    monkeypatch.delenv("MAILER_SECRET_KEY")
    monkeypatch.setenv("MAILER_SECRET_KEY_FILE", _file(tmp_path, "new", NEW_KEY + "\n"))
    monkeypatch.setenv("MAILER_SECRET_KEY_PREVIOUS_FILE", _file(tmp_path, "old", OLD_KEY + "\n"))


def test_links_sent_before_a_rotation_keep_working(
    rotated_server_env: None,
    live_server: LiveServer,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18 item 4: an issue sent under the old key; the server now runs with the new key
    and MAILER_SECRET_KEY_PREVIOUS: the click-through and one-click unsubscribe still work."""
    for name in ("MAILER_SECRET_KEY_FILE", "MAILER_SECRET_KEY_PREVIOUS_FILE"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("MAILER_SECRET_KEY", OLD_KEY)  # the send happened before the rotation
    sent: Sent = send_campaign(live_server, database_url, monkeypatch)
    person = "ana@example.com"
    assert read_token(OLD_KEY, sent.unsubscribe_url(person).rsplit("/", 1)[1])

    click = httpx.get(sent.click_urls(person)[0], follow_redirects=False)
    assert click.status_code == 302 and click.headers["location"].startswith("https://")
    response = httpx.post(
        sent.unsubscribe_url(person),
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert sent.status(person) == SubscriberStatus.UNSUBSCRIBED
