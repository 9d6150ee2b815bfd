"""The SendGrid request as JSON text written straight from the recipients (issue 17): the same
bytes ``json.dumps`` makes of ``build_payload``'s dicts, sent the way the sendgrid client sends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_http_client.client import Client

from mailer.delivery.errors import TransientProviderError
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.delivery.types import MessageTemplate, Recipient
from tests.fakes import make_recipients, make_template
from tests.fakes.sendgrid_server import FakeSendGrid, schema_errors

KEY = "SG.body-key"
AWKWARD = [
    'Ann "The Quill" O\'Hara',
    "back\\slash \\u0041 not an escape",
    "Zoë 李小龙 Łukasz",
    "emoji 😀 astral 𝄞",
    "control \x00\x01\x1f\x7f tab\tnew\nline\rreturn",
    "separators \u2028 \u2029 nbsp\u00a0 bom\ufeff",
    "</script><b>&amp;</b>",
    "%%first_name%% in a name",
    "",
]


def awkward_recipients() -> list[Recipient]:
    people = [
        Recipient(
            email=f'"odd.{n}"@example.com' if n % 2 else f"o'brien+{n}@exämple.com",
            name=name,
            subscriber_id=n,
            substitutions={
                "%%first_name%%": name,
                "%%first_name_html%%": name.replace("&", "&amp;").replace("<", "&lt;"),
                "%%unsubscribe_url%%": f'https://news.example/u/tok{n}?a=1&b="2"',
                "%%click%%": f"tok-{n}\\",
            },
        )
        for n, name in enumerate(AWKWARD)
    ]
    people.append(Recipient(email="bare@example.com"))  # no name, id or substitutions
    people.append(Recipient(email="zero@example.com", subscriber_id=0, substitutions={}))
    return people


TEMPLATES = [
    make_template(),
    make_template(from_name="", reply_to="", campaign_id=None, headers={}),
    make_template(subject="No placeholder here", categories=("weekly", "news", "weekly")),
    make_template(text=""),
    make_template(html="", subject='"Quoted" %%first_name%% — ünïcode 😀'),
    make_template(reply_to='"Desk, Front" <desk@clinic.example>', from_name='Clinic "News"'),
    make_template(
        headers={"List-Unsubscribe": "<%%unsubscribe_url%%>", "X-Note": 'a "b" \\ %%click%%'}
    ),
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_text_is_json_dumps_of_the_dicts_byte_for_byte(template: MessageTemplate) -> None:
    provider = SendGridProvider(KEY, api_host="http://127.0.0.1:9", categories=["newsletter"])
    for recipients in (awkward_recipients(), make_recipients(1000), make_recipients(1)):
        payload = provider.build_payload(template, recipients)
        body = provider.build_body(template, recipients)
        assert body == json.dumps(payload).encode("utf-8")
        assert json.loads(body) == payload
        assert schema_errors(json.loads(body)) == []


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.text(max_size=12), min_size=1, max_size=5),
    value=st.text(max_size=20),
    subject=st.text(max_size=20),
)
def test_any_text_at_all_encodes_as_json_dumps(names: list[str], value: str, subject: str) -> None:
    provider = SendGridProvider(KEY, api_host="http://127.0.0.1:9")
    template = make_template(subject=subject + " %%first_name%%")
    recipients = [
        Recipient(
            email=f"r{n}@example.com",
            name=name,
            subscriber_id=n,
            substitutions={"%%first_name%%": name, "%%unsubscribe_url%%": value, value: name},
        )
        for n, name in enumerate(names)
    ]
    body = provider.build_body(template, recipients)
    assert body == json.dumps(provider.build_payload(template, recipients)).encode("utf-8")


def test_the_fake_takes_the_text_and_records_each_awkward_recipient() -> None:
    template = TEMPLATES[-1]
    recipients = awkward_recipients()
    with FakeSendGrid(KEY, keep_payloads=True) as fake:  # full schema validation
        provider = SendGridProvider(KEY, api_host=fake.url, categories=["newsletter"])
        result = provider.send_batch(template, recipients)
        assert fake.refusals == []
        assert fake.payloads == [provider.build_payload(template, recipients)]
    assert len(result.accepted) == len(recipients)
    got = {item.email: item for item in fake.accepted}
    for recipient in recipients:
        assert got[recipient.email].name == recipient.name
        assert got[recipient.email].substitutions == recipient.substitutions


def test_the_text_goes_as_the_sendgrid_clients_own_post_would_send_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same URL, method, headers (key, User-Agent, Content-Type) and body as
    ``client.mail.send.post(request_body=dicts)``; only the encoding step is skipped."""
    sent: list[Any] = []

    def capture(self: Client, opener: Any, request: Any, timeout: Any = None) -> Any:
        sent.append((request, timeout or self.timeout))
        raise OSError("captured, not sent")

    monkeypatch.setattr(Client, "_make_request", capture)
    provider = SendGridProvider(KEY, api_host="https://api.example", timeout=7.5)
    template, recipients = make_template(), awkward_recipients()
    with pytest.raises(OSError):
        provider.client.client.mail.send.post(
            request_body=provider.build_payload(template, recipients)
        )
    with pytest.raises(TransientProviderError, match="captured"):
        provider.post(provider.build_body(template, recipients))
    (old, old_timeout), (new, new_timeout) = sent
    assert new.get_full_url() == old.get_full_url() == "https://api.example/v3/mail/send"
    assert new.get_method() == old.get_method() == "POST"
    assert new.header_items() == old.header_items()
    assert new.get_header("Content-type") == "application/json"
    assert new.get_header("Authorization") == f"Bearer {KEY}"
    assert new.data == old.data
    assert new_timeout == old_timeout == 7.5
