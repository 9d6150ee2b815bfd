"""The fake SendGrid server enforces the limits the real one does (so provider tests mean
something). Requests are made with plain urllib, not the provider under test."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.sendgrid_server import FakeSendGrid, Fault

KEY = "SG.fake"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(KEY) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSendGrid) -> FakeSendGrid:
    server.reset()
    return server


def body(count: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "personalizations": [{"to": [{"email": f"p{i}@example.com"}]} for i in range(count)],
        "from": {"email": "news@clinic.example"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "hi"}, {"type": "text/html", "value": "<p>"}],
        **extra,
    }


def post(fake: FakeSendGrid, payload: Any, key: str = KEY) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        f"{fake.url}/v3/mail/send",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), None
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def refused_with(fake: FakeSendGrid, payload: Any) -> str:
    status, _, answer = post(fake, payload)
    assert status == 400, answer
    assert fake.recipient_count() == 0
    return str(answer["errors"][0]["message"])


def test_a_valid_request_is_accepted_with_a_message_id_and_recorded(fake: FakeSendGrid) -> None:
    status, headers, _ = post(fake, body(3))
    assert status == 202
    assert headers["X-Message-Id"] == fake.message_ids[0]
    assert fake.emails() == ["p0@example.com", "p1@example.com", "p2@example.com"]


def test_1000_recipients_pass_and_1001_are_refused(fake: FakeSendGrid) -> None:
    assert post(fake, body(1000))[0] == 202
    fake.reset()
    assert "no more than 1000" in refused_with(fake, body(1001))
    # cc and bcc count too: 999 personalizations plus 2 cc is 1001
    payload = body(999)
    payload["personalizations"][0]["cc"] = [{"email": "c1@x.example"}, {"email": "c2@x.example"}]
    assert "no more than 1000" in refused_with(fake, payload)


def test_an_address_only_once_per_request(fake: FakeSendGrid) -> None:
    payload = body(2)
    payload["personalizations"][1]["bcc"] = [{"email": "P0@EXAMPLE.COM"}]
    assert "duplicate" in refused_with(fake, payload)


def test_custom_args_must_stay_under_10000_bytes(fake: FakeSendGrid) -> None:
    payload = body(1, custom_args={"campaign": "x" * 5000})
    payload["personalizations"][0]["custom_args"] = {"note": "y" * 5000}
    assert "custom_args" in refused_with(fake, payload)
    payload["personalizations"][0]["custom_args"] = {"note": "y" * 4000}
    assert post(fake, payload)[0] == 202


def test_send_at_at_most_72_hours_ahead(fake: FakeSendGrid) -> None:
    now = int(time.time())
    assert "72 hours" in refused_with(fake, body(1, send_at=now + 73 * 3600))
    assert post(fake, body(1, send_at=now + 71 * 3600))[0] == 202


@pytest.mark.parametrize("name", ["To", "reply-to", "DKIM-Signature", "x-sg-eid", "Subject"])
def test_reserved_headers_are_refused(fake: FakeSendGrid, name: str) -> None:
    assert "reserved" in refused_with(fake, body(1, headers={name: "x"}))
    payload = body(1)
    payload["personalizations"][0]["headers"] = {name: "x"}
    assert "reserved" in refused_with(fake, payload)


def test_schema_violations_are_refused(fake: FakeSendGrid) -> None:
    assert "from" in refused_with(fake, {"personalizations": [{"to": [{"email": "a@b.c"}]}]})
    payload = body(1)
    payload["personalizations"][0]["substitutions"] = {"%%n%%": 5}
    refused_with(fake, payload)
    assert "text/plain must be first" in refused_with(
        fake,
        body(
            1, content=[{"type": "text/html", "value": "x"}, {"type": "text/plain", "value": "y"}]
        ),
    )


def test_a_wrong_or_missing_key_is_a_401_in_sendgrids_error_shape(fake: FakeSendGrid) -> None:
    status, _, answer = post(fake, body(1), key="SG.other")
    assert status == 401
    assert answer["errors"][0]["message"]
    assert set(answer["errors"][0]) >= {"message", "field"}
    assert fake.recipient_count() == 0


def test_faults_for_the_next_requests_then_normal(fake: FakeSendGrid) -> None:
    fake.rate_limit_next(1, reset_in=5)
    fake.fail_next(1, status=503)
    status, headers, _ = post(fake, body(1))
    assert status == 429
    assert int(headers["X-RateLimit-Reset"]) >= int(time.time()) + 3
    assert post(fake, body(1))[0] == 503
    assert post(fake, body(1))[0] == 202


def test_random_faults_are_reproducible_from_the_seed(fake: FakeSendGrid) -> None:
    def run() -> list[int]:
        fake.reset()
        fake.fail_randomly(0.5, [Fault("status", status=500)], seed=42)
        return [post(fake, body(1))[0] for _ in range(12)]

    first = run()
    assert first == run()
    assert 500 in first and 202 in first


def test_sample_validation_still_checks_every_personalizations_types() -> None:
    with FakeSendGrid(KEY, schema_validation="sample") as fake:
        payload = body(100)
        payload["personalizations"][50]["substitutions"] = {"%%n%%": 5}
        status, _, answer = post(fake, payload)
        assert status == 400, answer
