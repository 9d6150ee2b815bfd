"""The SendGrid provider against the fake SendGrid server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mailer.delivery.errors import (
    PermanentProviderError,
    RateLimited,
    TransientProviderError,
)
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.delivery.types import Recipient
from tests.fakes import make_recipients, make_template
from tests.fakes.sendgrid_server import FakeSendGrid, schema_errors

KEY = "SG.test-key"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(KEY, keep_payloads=True) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSendGrid) -> FakeSendGrid:
    server.reset()
    return server


@pytest.fixture
def provider(fake: FakeSendGrid) -> SendGridProvider:
    return SendGridProvider(KEY, api_host=fake.url, categories=["newsletter"], timeout=2.0)


def test_every_payload_the_provider_builds_validates_against_sendgrids_spec() -> None:
    provider = SendGridProvider(KEY, api_host="http://127.0.0.1:9", categories=["newsletter"])
    variants = [
        make_template(),
        make_template(from_name="", reply_to="", campaign_id=None, headers={}),
        make_template(subject="No placeholder here", categories=("weekly", "newsletter")),
        make_template(text=""),
        make_template(reply_to="Front Desk <desk@clinic.example>"),
    ]
    batches = [
        make_recipients(1),
        make_recipients(1000),
        [Recipient(email="plain@example.com")],  # no name, id or substitutions
    ]
    for template in variants:
        for recipients in batches:
            payload = provider.build_payload(template, recipients)
            assert schema_errors(payload) == []


def test_a_batch_of_1000_goes_in_one_request_with_each_recipients_values(
    fake: FakeSendGrid, provider: SendGridProvider
) -> None:
    recipients = make_recipients(1000)
    result = provider.send_batch(make_template(), recipients)

    assert fake.requests == 1
    assert fake.recipient_count() == 1000
    assert result.provider_message_id == fake.message_ids[0]
    assert len(result.accepted) == 1000 and result.failures == {}
    assert result.message_ids[7] == fake.message_ids[0]
    got = {item.email: item for item in fake.accepted}
    reader = got["reader7@example.com"]
    assert reader.substitutions["%%unsubscribe_url%%"].endswith("/u/tok7")
    assert reader.subject == "Reader7, three things about sleep"
    assert reader.headers["List-Unsubscribe"] == "<https://news.clinic.example/u/tok7>"
    assert reader.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert reader.headers["List-Id"] == "Clinic News <news.clinic.example>"
    assert reader.custom_args == {
        "campaign_slug": "week-12",
        "campaign_id": "12",
        "subscriber_id": "7",
    }
    payload = fake.payloads[0]
    assert [part["type"] for part in payload["content"]] == ["text/plain", "text/html"]
    assert payload["categories"] == ["newsletter"]
    assert payload["reply_to"] == {"email": "desk@clinic.example"}
    # The compiled body goes once, not once per recipient.
    assert len(payload["content"][1]["value"]) == len(make_template().html)
    assert "List-Unsubscribe" not in payload.get("headers", {})


def test_more_than_1000_recipients_is_refused_before_any_request(
    fake: FakeSendGrid, provider: SendGridProvider
) -> None:
    with pytest.raises(ValueError, match="at most 1000"):
        provider.send_batch(make_template(), make_recipients(1001))
    assert fake.requests == 0


def test_429_is_rate_limited_with_the_wait_from_x_ratelimit_reset(
    fake: FakeSendGrid, provider: SendGridProvider
) -> None:
    fake.rate_limit_next(1, reset_in=3)
    with pytest.raises(RateLimited) as caught:
        provider.send_batch(make_template(), make_recipients(2))
    assert 1.5 <= caught.value.retry_after <= 3.0
    assert fake.recipient_count() == 0
    provider.send_batch(make_template(), make_recipients(2))  # the next one goes through
    assert fake.recipient_count() == 2


def test_500_is_transient(fake: FakeSendGrid, provider: SendGridProvider) -> None:
    fake.fail_next(1, status=500)
    with pytest.raises(TransientProviderError) as caught:
        provider.send_batch(make_template(), make_recipients(3))
    assert not isinstance(caught.value, RateLimited)
    assert "500" in str(caught.value)


def test_a_dropped_connection_is_transient(fake: FakeSendGrid, provider: SendGridProvider) -> None:
    fake.drop_next(1)
    with pytest.raises(TransientProviderError) as caught:
        provider.send_batch(make_template(), make_recipients(3))
    assert caught.value.__cause__ is not None
    assert fake.recipient_count() == 0


def test_a_slow_answer_past_the_timeout_is_transient(fake: FakeSendGrid) -> None:
    provider = SendGridProvider(KEY, api_host=fake.url, timeout=0.2)
    fake.slow_next(1, delay=0.6)
    started = time.monotonic()
    with pytest.raises(TransientProviderError, match=r"did not answer|timed out"):
        provider.send_batch(make_template(), make_recipients(1))
    assert time.monotonic() - started < 0.55


def test_a_wrong_key_is_permanent_with_sendgrids_message(fake: FakeSendGrid) -> None:
    provider = SendGridProvider("SG.wrong", api_host=fake.url)
    with pytest.raises(PermanentProviderError) as caught:
        provider.send_batch(make_template(), make_recipients(1))
    assert caught.value.status == 401
    assert caught.value.provider_message == (
        "The provided authorization grant is invalid, expired, or revoked"
    )
    assert "SENDGRID_API_KEY" in (caught.value.hint or "")
    assert "SG.wrong" not in str(caught.value)


@pytest.mark.parametrize("header", ["Reply-To", "to", "X-SG-ID", "Content-Type"])
def test_a_reserved_header_is_refused_and_never_sent(
    fake: FakeSendGrid, provider: SendGridProvider, header: str
) -> None:
    template = make_template(headers={header: "x", "List-Id": "News <news.clinic.example>"})
    with pytest.raises(PermanentProviderError, match="reserved"):
        provider.send_batch(template, make_recipients(1))
    assert fake.requests == 0


def test_a_400_carries_sendgrids_error_message(
    fake: FakeSendGrid, provider: SendGridProvider
) -> None:
    duplicate = [*make_recipients(2), Recipient(email="READER0@example.com")]
    with pytest.raises(PermanentProviderError) as caught:
        provider.send_batch(make_template(), duplicate)
    assert caught.value.status == 400
    assert "duplicate instance of [READER0@example.com]" in caught.value.provider_message


def test_a_reply_to_with_a_name_is_split_into_email_and_name() -> None:
    provider = SendGridProvider(KEY, api_host="http://127.0.0.1:9")
    template = make_template(reply_to="Front Desk <desk@clinic.example>")
    payload = provider.build_payload(template, make_recipients(1))
    assert payload["reply_to"] == {"email": "desk@clinic.example", "name": "Front Desk"}
