"""The outbox provider, the MIME builder it shares with SMTP and preview, and make_provider."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.config import Secrets, load_settings
from mailer.delivery.mime import build_message, build_message_bytes
from mailer.delivery.providers import make_provider
from mailer.delivery.providers.outbox import OutboxProvider
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.delivery.providers.smtp import SmtpProvider
from mailer.delivery.types import Recipient
from mailer.errors import ConfigError
from mailer.workspace import Workspace
from tests.fakes import make_recipients, make_template


def read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=SMTP)
    assert isinstance(message, EmailMessage)
    return message


def test_one_parseable_eml_per_recipient_with_values_and_contract_headers(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "outbox")
    result = provider.send_batch(make_template(), make_recipients(3))

    files = sorted((tmp_path / "outbox" / "week-12").iterdir())
    assert [path.name for path in files] == [f"reader{n}@example.com.eml" for n in range(3)]
    message = read(files[2])
    assert message["Message-ID"] == result.message_ids[2]
    assert message["To"] == "Reader 2 <reader2@example.com>"
    assert message["Subject"] == "Reader2, three things about sleep"
    assert message["From"] == "Clinic News <news@clinic.example>"
    assert message["Reply-To"] == "desk@clinic.example"
    assert message["List-Unsubscribe"] == "<https://news.clinic.example/u/tok2>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Clinic News <news.clinic.example>"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    assert "Unsubscribe: https://news.clinic.example/u/tok2" in text.get_content()
    assert 'href="https://news.clinic.example/u/tok2"' in html.get_content()
    assert not list(files[0].parent.glob(".tmp-*"))


def test_sending_again_replaces_the_file_and_odd_addresses_get_safe_names(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "outbox")
    odd = Recipient(email="../../etc/passwd@example.com")
    provider.send_batch(make_template(), [odd])
    provider.send_batch(make_template(), [odd])
    files = list((tmp_path / "outbox" / "week-12").iterdir())
    assert len(files) == 1
    assert files[0].parent == tmp_path / "outbox" / "week-12"
    assert "/" not in files[0].name and files[0].name.endswith(".eml")


def test_non_ascii_values_and_header_injection(tmp_path: Path) -> None:
    recipient = Recipient(
        email="jose@example.com",
        name="José Müller",
        substitutions={
            "%%first_name%%": "José\r\nBcc: victim@example.com",
            "%%unsubscribe_url%%": "https://news.clinic.example/u/ñ",
        },
    )
    message = build_message(make_template(), recipient)
    assert message["Bcc"] is None
    assert message["Subject"].startswith("José")
    assert str(message["To"]) == "José Müller <jose@example.com>"
    text = message.get_body(("plain",))
    assert text is not None and "Hello José" in text.get_content()


@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=1, max_size=300),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40),
)
def test_parts_decode_to_exactly_the_filled_text(body: str, value: str) -> None:
    """Whatever the text and values, quoted-printable round-trips them (newlines as LF)."""
    template = make_template(text=f"A %%first_name%% B\n{body}", html=f"<p>{body}</p>")
    recipient = Recipient(email="a@example.com", substitutions={"%%first_name%%": value})
    message = email.message_from_bytes(build_message_bytes(template, recipient), policy=SMTP)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    assert text is not None

    def lf(s: str) -> str:
        return s.replace("\r\n", "\n").replace("\r", "\n")

    expected = lf(f"A {value} B\n{body}")
    got = lf(text.get_content())
    assert got == (expected if expected.endswith("\n") else expected + "\n")


def test_make_provider_chooses_by_configuration(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = workspace.root / "mailer.toml"
    root = workspace.root

    def provider_for(environ: dict[str, str]) -> object:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return make_provider(load_settings(config), Secrets(), root)

    outbox = provider_for({"MAILER_DELIVERY__PROVIDER": "outbox"})
    assert isinstance(outbox, OutboxProvider) and outbox.outbox_root == root / "outbox"

    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        provider_for({"MAILER_DELIVERY__PROVIDER": "sendgrid"})
    sendgrid = provider_for(
        {"SENDGRID_API_KEY": "SG.x", "MAILER_SENDGRID__API_HOST": "https://api.eu.sendgrid.com"}
    )
    assert isinstance(sendgrid, SendGridProvider)
    assert sendgrid.client.host == "https://api.eu.sendgrid.com"
    assert "SG.x" not in repr(sendgrid)

    smtp = provider_for(
        {
            "MAILER_DELIVERY__PROVIDER": "smtp",
            "MAILER_SMTP__HOST": "mail.example",
            "MAILER_SMTP__PORT": "465",
            "MAILER_SMTP__SECURITY": "tls",
        }
    )
    assert isinstance(smtp, SmtpProvider)
    assert (smtp.host, smtp.port, smtp.security) == ("mail.example", 465, "tls")
