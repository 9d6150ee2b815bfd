"""The three booking webhooks over HTTP against `mailer serve` on loopback, signed with real
HMAC keys: verified before parsed, refused with nothing stored, stored once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.bookings import payloads
from tests.bookings.conftest import ANA, Loop
from tests.web_server import LiveServer

ENDPOINTS = ("calendly", "calcom", "booking")


def _document(endpoint: str, **extra: Any) -> dict[str, Any]:
    if endpoint == "calendly":
        return payloads.calendly(**extra)
    if endpoint == "calcom":
        return payloads.calcom(**extra)
    return payloads.generic(**extra)


def _headers(endpoint: str, raw: bytes, **sign: Any) -> dict[str, str]:
    if endpoint == "calendly":
        return payloads.calendly_headers(raw, **sign)
    if endpoint == "calcom":
        return payloads.calcom_headers(raw, **sign)
    return payloads.generic_headers(raw, **sign)


def test_a_valid_calendly_booking_is_stored_once_and_retries_change_nothing(loop: Loop) -> None:
    document = payloads.calendly(tracking=loop.follow(ANA, "cta-top"))
    first = loop.calendly(document)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "outcome": "stored",
        "state": "booked",
        "campaign": loop.sent.slug,
        "place": "cta-top",
        "matched_by": "ref",
    }
    # Calendly retries a delivery it saw no 2xx for; a replay within the 3 minutes is the same.
    for _ in range(3):
        again = loop.calendly(document)
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    raw = payloads.body(document)
    signed_earlier = payloads.calendly_headers(raw, stamp=int(time.time()) - 60)
    replay = loop.client.post("/webhooks/calendly", content=raw, headers=signed_earlier)
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    [booking] = loop.bookings()
    assert (booking.state, booking.place, booking.matched_by) == ("booked", "cta-top", "ref")
    assert booking.event_name == "Free consultation"
    assert booking.subscriber_id == loop.sent.ids[ANA]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_bad_signatures_are_refused_and_store_nothing(loop: Loop, endpoint: str) -> None:
    tracking = loop.follow(ANA, "cta-top")
    document = _document(endpoint)
    if endpoint == "calendly":
        document["payload"]["tracking"].update(tracking)
    raw = payloads.body(document)
    good = _headers(endpoint, raw)
    name = next(iter(k for k in good if k != "Content-Type"))
    # Timed cases are signed as they are sent (a slow machine must not move them in or out of
    # the window): offsets from now, in seconds.
    cases: dict[str, Callable[[], dict[str, str]]] = {
        "missing": lambda: {"Content-Type": "application/json"},
        "wrong key": lambda: _headers(endpoint, raw, key="not-the-key"),
        "empty": lambda: {**good, name: ""},
        "garbage": lambda: {**good, name: "t=abc,v1=zz"},
        "other body": lambda: {**good, name: _headers(endpoint, raw + b" ")[name]},
    }
    if endpoint != "calcom":  # Calendly's form carries the time; Cal.com's has none

        def signed(offset: int) -> Callable[[], dict[str, str]]:
            return lambda: _headers(endpoint, raw, stamp=int(time.time()) + offset)

        cases["stale (185 s)"] = signed(-185)
        cases["an hour old"] = signed(-3600)
        cases["future (185 s)"] = signed(185)
        cases["no v1"] = lambda: {**good, name: f"t={int(time.time())}"}
        cases["no t"] = lambda: {**good, name: good[name].split(",", 1)[1]}
    for case, headers in cases.items():
        response = loop.client.post(f"/webhooks/{endpoint}", content=raw, headers=headers())
        assert response.status_code == 403, (case, response.text)
        assert "refused" in response.json()["error"]
    assert loop.bookings() == []
    # The same body, signed right, within the window on either side: accepted.
    for offset in (-170, 170) if endpoint != "calcom" else (None,):
        sign = {"stamp": int(time.time()) + offset} if offset is not None else {}
        response = loop.client.post(
            f"/webhooks/{endpoint}", content=raw, headers=_headers(endpoint, raw, **sign)
        )
        assert response.status_code == 200, response.text
    assert len(loop.bookings()) == 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_without_its_key_an_endpoint_answers_503_and_stores_nothing(
    live_server: LiveServer, endpoint: str
) -> None:
    raw = payloads.body(_document(endpoint))
    response = httpx.post(
        f"{live_server.url}/webhooks/{endpoint}", content=raw, headers=_headers(endpoint, raw)
    )
    assert response.status_code == 503
    assert "not connected" in response.json()["error"]
    assert "MAILER_" in response.json()["error"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_oversized_body_is_413_before_it_is_read_whole(loop: Loop, endpoint: str) -> None:
    big = payloads.body({"event": "x", "pad": "a" * 300_000})
    declared = loop.client.post(
        f"/webhooks/{endpoint}", content=big, headers=_headers(endpoint, big)
    )
    assert declared.status_code == 413

    def chunks() -> Any:  # no Content-Length: the stream is cut at the limit
        for _ in range(40):
            yield b"a" * 16_384

    streamed = loop.client.post(
        f"/webhooks/{endpoint}", content=chunks(), headers=_headers(endpoint, b"")
    )
    assert streamed.status_code == 413
    assert loop.bookings() == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_signed_body_that_is_not_the_tools_json_is_400(loop: Loop, endpoint: str) -> None:
    bodies = [
        b"{not json",
        b"[]",
        b'"text"',
        b"\xff\xfe{}",
        b'{"event": NaN}',
        b"[" * 100_000,
    ]
    for raw in bodies:
        response = loop.client.post(
            f"/webhooks/{endpoint}", content=raw, headers=_headers(endpoint, raw)
        )
        assert response.status_code == 400, (raw[:20], response.text)
        assert response.json()["error"]
    # Well-formed JSON, but a field of the wrong kind or missing: 400 naming it.
    broken = _document(endpoint)
    if endpoint == "calendly":
        broken["payload"]["uri"] = 12
        field = "payload.uri"
    elif endpoint == "calcom":
        del broken["payload"]["uid"]
        field = "payload.uid"
    else:
        broken["utm"] = "not an object"
        field = "utm"
    raw = payloads.body(broken)
    response = loop.client.post(
        f"/webhooks/{endpoint}", content=raw, headers=_headers(endpoint, raw)
    )
    assert response.status_code == 400 and field in response.json()["error"]
    assert loop.bookings() == []


@pytest.mark.parametrize(
    ("endpoint", "make"),
    [
        ("calendly", lambda: payloads.calendly("invitee_no_show.created")),
        ("calendly", lambda: payloads.calendly("routing_form_submission.created")),
        ("calcom", lambda: payloads.calcom("MEETING_ENDED")),
        ("calcom", lambda: payloads.calcom("BOOKING_REQUESTED")),
        ("booking", lambda: payloads.generic("booking.noshow")),
    ],
)
def test_an_unknown_event_type_is_acknowledged_and_not_stored(
    loop: Loop, endpoint: str, make: Callable[[], dict[str, Any]]
) -> None:
    raw = payloads.body(make())
    response = loop.client.post(
        f"/webhooks/{endpoint}", content=raw, headers=_headers(endpoint, raw)
    )
    assert response.status_code == 202
    assert response.json()["ignored"]
    assert loop.bookings() == []


def test_nothing_personal_is_stored_or_answered(loop: Loop) -> None:
    """The row holds no name, address, answer or click reference; the answer names none."""
    document = payloads.calendly(tracking=loop.follow(ANA, "cta-bottom"))
    response = loop.calendly(document)
    assert ANA not in response.text
    [booking] = loop.bookings()
    stored = json.dumps(
        {k: str(v) for k, v in vars(booking).items() if not k.startswith("_")}, sort_keys=True
    )
    invitee = document["payload"]
    for personal in (ANA, "Ana Reader", "Headaches every morning", invitee["uri"]):
        assert personal not in stored, personal
    assert invitee["tracking"]["utm_term"] not in stored  # the reference names a subscriber
    assert booking.params["utm_term"] == "ref"
    assert booking.params["utm_campaign"] == loop.sent.slug
    assert booking.email_hash and len(booking.email_hash) == 64
