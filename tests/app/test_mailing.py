"""app/mailing.py: one message now through the configured provider, logged without addresses,
never raising; staff notices through it, with their own envelope."""

from __future__ import annotations

import logging
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from mailer.app.mailing import notify_staff, send_message
from mailer.campaigns.message import signup_message, staff_notice
from mailer.delivery.types import Recipient
from mailer.errors import DeliveryError
from mailer.subscribers.signup import Person
from mailer.workspace import Workspace
from tests.fakes.smtp_server import FakeSmtp

CARLA = Person(7, "carla@example.com", "carla@example.com", "Carla")


def use_smtp(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("MAILER_DELIVERY__PROVIDER", "smtp")
    monkeypatch.setenv("MAILER_SMTP__HOST", "127.0.0.1")
    monkeypatch.setenv("MAILER_SMTP__PORT", str(port))
    monkeypatch.setenv("MAILER_SMTP__SECURITY", "none")


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_staff_notice_goes_to_every_staff_address_with_the_notice_envelope(
    workspace: Workspace,
) -> None:
    result = notify_staff(workspace, "a draft waits", "A draft <waits>.\n\nApprove it.")
    assert result.sent and result.sent_to == ("frontdesk@summitspine.example",)
    [eml] = workspace.outbox_dir.glob("staff-notice-*/*.eml")
    notice = parse(eml.read_bytes())
    assert notice["Subject"] == "[mailer] a draft waits"
    assert notice["From"] == (
        "Summit Upper Cervical Chiropractic newsletter <news@summitspine.example>"
    )
    assert notice["Reply-To"] is None and notice["List-Unsubscribe"] is None  # not list mail
    html = notice.get_body(("html",))
    assert html is not None and "<p>A draft &lt;waits&gt;.</p><p>Approve it.</p>" in str(
        html.get_content()  # type: ignore[attr-defined]
    )


def test_without_staff_addresses_a_notice_is_only_logged(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_ORGANIZATION__STAFF_EMAILS", "")
    result = notify_staff(Workspace(workspace.root), "a draft waits", "Body.")
    assert not result.sent and "staff_emails" in result.error
    assert not list(workspace.outbox_dir.glob("staff-notice-*"))


def test_an_unreachable_provider_is_logged_without_the_address_and_not_raised(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    use_smtp(monkeypatch, closed)
    workspace = Workspace(workspace.root)
    message = signup_message(
        workspace.settings,
        workspace.templates_dir,
        "confirm",
        CARLA,
        subject="Please confirm",
        unsubscribe_url="https://news.example/u/x",
        confirm_url="https://news.example/confirm/x",
    )
    caplog.set_level(logging.WARNING, logger="mailer.app.mailing")
    result = send_message(workspace, message[0], [message[1]])
    assert not result.sent and result.error
    assert result.as_dict()["sent"] is False
    assert "signup-confirm email to subscriber 7 not sent" in caplog.text
    assert "carla" not in caplog.text


def test_a_refused_address_is_reported_and_the_others_still_get_the_message(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "MAILER_ORGANIZATION__STAFF_EMAILS", "ann@summitspine.example,gone@summitspine.example"
    )
    caplog.set_level(logging.WARNING, logger="mailer.app.mailing")
    with FakeSmtp(refuse={"gone@summitspine.example"}) as server:
        use_smtp(monkeypatch, server.port)
        result = notify_staff(Workspace(workspace.root), "slot missed", "Body.")
    assert result.sent_to == ("ann@summitspine.example",)
    assert result.refused == ("gone@summitspine.example",)
    assert [m.rcpt_tos for m in server.messages] == [("ann@summitspine.example",)]
    assert "refused by the provider" in caplog.text and "1 address" in caplog.text
    assert "gone@" not in caplog.text


def test_a_test_copy_refused_by_the_provider_is_an_error_for_the_person_waiting(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`send --test-to` (and the staff app's "Send test to me") ask with raise_failure: before,
    a refused test copy was reported as sent."""
    template = staff_notice(workspace.settings, "test", "Body.")
    with FakeSmtp(refuse={"typo@summitspine.example"}) as server:
        use_smtp(monkeypatch, server.port)
        with pytest.raises(DeliveryError, match=r"typo@summitspine\.example: .*550"):
            send_message(
                Workspace(workspace.root),
                template,
                [Recipient(email="typo@summitspine.example")],
                raise_failure=True,
            )
    assert server.messages == []
