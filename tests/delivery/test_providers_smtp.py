"""The SMTP provider against an aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import ssl

import pytest

from mailer.delivery.errors import PermanentProviderError, TransientProviderError
from mailer.delivery.providers.smtp import SmtpProvider
from mailer.delivery.types import Recipient
from tests.fakes import make_recipients, make_template
from tests.fakes.smtp_server import FakeSmtp

# aiosmtpd itself sets a deprecated attribute on successful AUTH.
pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")


def test_messages_arrive_with_both_parts_the_headers_and_each_recipients_values() -> None:
    with FakeSmtp() as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="none")
        result = provider.send_batch(make_template(), make_recipients(3))
        provider.close()
        received = server.messages

    assert len(received) == 3 and len(result.accepted) == 3
    assert received[1].rcpt_tos == ("reader1@example.com",)
    assert received[1].mail_from == "news@clinic.example"
    message = received[1].parsed()
    assert message["Subject"] == "Reader1, three things about sleep"
    assert message["From"] == "Clinic News <news@clinic.example>"
    assert message["To"] == "Reader 1 <reader1@example.com>"
    assert message["Reply-To"] == "desk@clinic.example"
    assert message["List-Unsubscribe"] == "<https://news.clinic.example/u/tok1>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Clinic News <news.clinic.example>"
    assert message["Message-ID"] == result.message_ids[1]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "Hello Reader1," in text.get_content()
    assert "Unsubscribe: https://news.clinic.example/u/tok1" in text.get_content()
    assert 'href="https://news.clinic.example/u/tok1"' in html.get_content()
    assert "%%" not in text.get_content() + html.get_content()


def test_one_connection_is_reused_across_batches() -> None:
    with FakeSmtp() as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="none")
        for start in (0, 10, 20):
            provider.send_batch(make_template(), make_recipients(10, start=start))
        provider.close()
        assert len(server.messages) == 30
        assert server.connections == 1


def test_a_connection_closed_between_batches_is_reopened() -> None:
    with FakeSmtp() as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="none")
        provider.send_batch(make_template(), make_recipients(2))
        server.hang_up()  # as a server's idle timeout does between batches
        provider.send_batch(make_template(), make_recipients(2, start=2))
        provider.close()
        assert len(server.messages) == 4
        assert server.connections == 2


def test_one_refused_recipient_does_not_fail_the_batch() -> None:
    with FakeSmtp(refuse={"reader1@example.com"}) as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="none")
        result = provider.send_batch(make_template(), make_recipients(3))
        provider.close()
        delivered = [message.rcpt_tos[0] for message in server.messages]

    assert delivered == ["reader0@example.com", "reader2@example.com"]
    assert [r.subscriber_id for r in result.accepted] == [0, 2]
    assert list(result.failures) == [1]
    assert result.failures[1].startswith("550")
    assert result.refused[0].permanent


def test_starttls_with_login() -> None:
    with FakeSmtp(tls="starttls", auth=("mailer", "s3cret")) as server:
        provider = SmtpProvider(
            "127.0.0.1",
            server.port,
            security="starttls",
            username="mailer",
            password="s3cret",
            ssl_context=server.client_context(),
        )
        provider.send_batch(make_template(), make_recipients(2))
        provider.close()
        assert len(server.messages) == 2


def test_implicit_tls() -> None:
    with FakeSmtp(tls="implicit") as server:
        provider = SmtpProvider(
            "127.0.0.1", server.port, security="tls", ssl_context=server.client_context()
        )
        provider.send_batch(make_template(), make_recipients(1))
        provider.close()
        assert len(server.messages) == 1


def test_an_untrusted_certificate_is_permanent() -> None:
    with FakeSmtp(tls="starttls") as server:
        provider = SmtpProvider(
            "127.0.0.1", server.port, security="starttls", ssl_context=ssl.create_default_context()
        )
        with pytest.raises(PermanentProviderError, match="certificate"):
            provider.send_batch(make_template(), make_recipients(1))
        assert server.messages == []


def test_a_wrong_password_is_permanent_and_not_shown() -> None:
    with FakeSmtp(tls="starttls", auth=("mailer", "s3cret")) as server:
        provider = SmtpProvider(
            "127.0.0.1",
            server.port,
            username="mailer",
            password="wrong-pass",
            ssl_context=server.client_context(),
        )
        with pytest.raises(PermanentProviderError) as caught:
            provider.send_batch(make_template(), make_recipients(1))
        assert caught.value.status == 535
        assert "wrong-pass" not in str(caught.value) + repr(provider)
        assert "MAILER_SMTP__PASSWORD" in (caught.value.hint or "")


def test_no_server_is_transient() -> None:
    with FakeSmtp() as server:
        port = server.port
    provider = SmtpProvider("127.0.0.1", port, security="none", timeout=2)
    with pytest.raises(TransientProviderError, match="cannot connect"):
        provider.send_batch(make_template(), make_recipients(1))


def test_a_server_failing_mid_batch_reports_what_was_already_sent() -> None:
    with FakeSmtp(accept_at_most=3) as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="none", timeout=2)
        with pytest.raises(TransientProviderError, match="421") as caught:
            provider.send_batch(make_template(), make_recipients(5))
        provider.close()
        assert len(server.messages) == 3
    partial = caught.value.partial
    assert partial is not None
    assert [r.subscriber_id for r in partial.accepted] == [0, 1, 2]


def test_an_internationalized_address_goes_with_smtputf8() -> None:
    with FakeSmtp() as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="none")
        reader = Recipient(email="josé@exämple.com", name="José", subscriber_id=5)
        result = provider.send_batch(make_template(), [reader])
        provider.close()
        assert result.failures == {}
        assert server.messages[0].rcpt_tos == ("josé@exämple.com",)
        assert server.messages[0].parsed()["To"] == "José <josé@exämple.com>"
