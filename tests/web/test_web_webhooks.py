"""POST /webhooks/sendgrid through a real server: signed batches are stored once and suppress;
anything not signed by the configured key, or signed long ago, changes nothing."""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import CampaignRun, Event, EventKind, StatusChange, Subscriber
from mailer.subscribers.service import add_subscriber
from mailer.subscribers.status import By, move
from mailer.workspace import Workspace
from tests.web_server import LiveServer

SLUG = "spring-issue"
SIG = "X-Twilio-Email-Event-Webhook-Signature"
TS = "X-Twilio-Email-Event-Webhook-Timestamp"


def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    """The key as SendGrid's settings page shows it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def signed_headers(
    key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Exactly what SendGrid sends: base64 DER ECDSA(SHA-256) over timestamp + body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SIG: base64.b64encode(signature).decode(),
        TS: stamp,
        "Content-Type": "application/json",
    }


@pytest.fixture
def signing_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("MAILER_SENDGRID__WEBHOOK_PUBLIC_KEY", public_key_text(key))
    return key


@pytest.fixture
def server(signing_key: ec.EllipticCurvePrivateKey, live_server: LiveServer) -> LiveServer:
    return live_server  # started after the key is in the environment


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> Iterator[dict[str, int]]:
    """Six active subscribers by name, and a campaign run they were sent."""
    ids: dict[str, int] = {}
    with sessions() as session, session.begin():
        for name in ("bounce", "blocked", "spam", "unsub", "group", "reader"):
            ids[name] = add_subscriber(session, f"{name}@example.com").id
        run = CampaignRun(slug=SLUG, subject="Spring", template={}, links=[], recipients=6)
        session.add(run)
        session.flush()
        ids["campaign"] = run.id
    yield ids


def event(kind: str, subscriber: int, campaign: int, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "email": "someone@example.com",
        "timestamp": 1_700_000_000 + n,
        "event": kind,
        "sg_event_id": f"evt-{kind}-{subscriber}-{n}",
        "sg_message_id": f"msg{subscriber}.filter",
        "subscriber_id": str(subscriber),
        "campaign_slug": SLUG,
        "campaign_id": str(campaign),
        **extra,
    }


def good_batch(ids: dict[str, int]) -> list[dict[str, Any]]:
    c = ids["campaign"]
    return [
        event("processed", ids["reader"], c, 1),
        event("delivered", ids["reader"], c, 2),
        event("open", ids["reader"], c, 3),
        event("click", ids["reader"], c, 4, url="https://clinic.example/book"),
        event("deferred", ids["bounce"], c, 5),
        event("bounce", ids["bounce"], c, 6, type="bounce", reason="550 no such user"),
        event("bounce", ids["blocked"], c, 7, type="blocked", reason="554 reputation"),
        event("spamreport", ids["spam"], c, 8),
        event("unsubscribe", ids["unsub"], c, 9),
        event("group_unsubscribe", ids["group"], c, 10, asm_group_id=1),
        event("dropped", ids["reader"], c, 11, reason="Invalid"),
        {"event": "some_future_type", "sg_event_id": "evt-future", "timestamp": 1},
    ]


def counts(sessions: sessionmaker[Session]) -> tuple[int, int, list[str]]:
    with sessions() as session:
        events = session.scalar(select(func.count()).select_from(Event)) or 0
        changes = session.scalar(select(func.count()).select_from(StatusChange)) or 0
        statuses = list(session.scalars(select(Subscriber.status).order_by(Subscriber.id)))
    return events, changes, statuses


def post(server: LiveServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/webhooks/sendgrid", content=body, headers=headers)


@pytest.mark.both_databases
def test_signed_batch_is_stored_and_suppresses_at_once(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
) -> None:
    body = json.dumps(good_batch(people)).encode()
    response = post(server, body, signed_headers(signing_key, body))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 12,
        "stored": 11,
        "duplicates": 0,
        "ignored": 1,
        "suppressed": 4,
        "skipped": 0,
    }
    with sessions() as session:
        status = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert status == {
            "bounce@example.com": "bounced",
            "blocked@example.com": "active",  # a block may pass: the address is kept
            "spam@example.com": "complained",
            "unsub@example.com": "unsubscribed",
            "group@example.com": "unsubscribed",
            "reader@example.com": "active",
        }
        change = session.scalars(
            select(StatusChange)
            .where(StatusChange.subscriber_id == people["spam"])
            .order_by(StatusChange.id.desc())
        ).first()
        assert change is not None and change.source == "sendgrid" and change.old_status == "active"
        assert "spam" in change.reason
        kinds = dict(session.execute(select(Event.kind, func.count()).group_by(Event.kind)).all())
        assert kinds == {
            EventKind.PROCESSED: 1,
            EventKind.DELIVERED: 1,
            EventKind.OPENED: 1,
            EventKind.CLICKED: 1,
            EventKind.DEFERRED: 1,
            EventKind.BOUNCED: 1,
            EventKind.DROPPED: 2,
            EventKind.COMPLAINED: 1,
            EventKind.UNSUBSCRIBED: 2,
        }
        click = session.scalars(select(Event).where(Event.kind == EventKind.CLICKED)).one()
        assert click.campaign_id == people["campaign"]
        assert click.subscriber_id == people["reader"]
        assert click.raw["url"] == "https://clinic.example/book"
        assert click.source == "sendgrid" and click.source_event_id.startswith("evt-click")
        assert click.occurred_at.timestamp() == 1_700_000_004


@pytest.mark.parametrize(
    "forgery",
    ["other key", "other body", "replayed", "future", "no signature", "no timestamp", "garbage"],
)
def test_unsigned_forged_or_replayed_requests_change_nothing(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
    forgery: str,
) -> None:
    body = json.dumps(good_batch(people)).encode()
    before = counts(sessions)
    if forgery == "other key":
        headers = signed_headers(ec.generate_private_key(ec.SECP256R1()), body)
    elif forgery == "other body":
        headers = signed_headers(signing_key, body.replace(b"delivered", b"processed"))
    elif forgery == "replayed":  # a genuine request captured an hour ago
        headers = signed_headers(signing_key, body, int(time.time()) - 3600)
    elif forgery == "future":
        headers = signed_headers(signing_key, body, int(time.time()) + 3600)
    elif forgery == "garbage":
        headers = signed_headers(signing_key, body) | {SIG: "not base64 at all!"}
    else:
        headers = signed_headers(signing_key, body)
        del headers[SIG if forgery == "no signature" else TS]
    response = post(server, body, headers)
    assert response.status_code == 403
    assert "refused" in response.json()["error"]
    assert counts(sessions) == before


@pytest.mark.both_databases
def test_a_retried_batch_is_stored_once(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
) -> None:
    body = json.dumps(good_batch(people)).encode()
    first = post(server, body, signed_headers(signing_key, body))
    assert first.status_code == 200
    after_first = counts(sessions)
    again = post(server, body, signed_headers(signing_key, body))
    assert again.status_code == 200
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 11
    assert counts(sessions) == after_first


def test_suppression_is_never_revived_nor_downgraded(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        spam = session.get_one(Subscriber, people["spam"])
        move(session, spam, "complained", by=By.PROVIDER, reason="test", source="test")
        unsub = session.get_one(Subscriber, people["unsub"])
        move(session, unsub, "unsubscribed", by=By.PROVIDER, reason="test", source="test")
    c = people["campaign"]
    batch = [
        event("bounce", people["spam"], c, 1, type="bounce"),  # complained stays complained
        event("unsubscribe", people["spam"], c, 2),
        event("delivered", people["unsub"], c, 3),
        event("spamreport", people["unsub"], c, 4),  # unsubscribed, then complained: escalates
        event("unsubscribe", people["bounce"], c, 5),  # one batch: the strongest wins
        event("bounce", people["bounce"], c, 6, type="bounce"),
    ]
    body = json.dumps(batch).encode()
    assert post(server, body, signed_headers(signing_key, body)).status_code == 200
    with sessions() as session:
        assert session.get_one(Subscriber, people["spam"]).status == "complained"
        assert session.get_one(Subscriber, people["unsub"]).status == "complained"
        assert session.get_one(Subscriber, people["bounce"]).status == "bounced"


@pytest.mark.both_databases
def test_a_thousand_events_in_one_request(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
) -> None:
    c, reader = people["campaign"], people["reader"]
    batch = [event("open" if n % 2 else "delivered", reader, c, n) for n in range(1000)]
    batch[500] = event("unsubscribe", people["unsub"], c, 500)
    body = json.dumps(batch).encode()
    response = post(server, body, signed_headers(signing_key, body))
    assert response.status_code == 200
    assert response.json()["stored"] == 1000 and response.json()["suppressed"] == 1
    assert counts(sessions)[0] == 1000


def test_bad_json_with_a_good_signature_is_a_400(
    server: LiveServer, signing_key: ec.EllipticCurvePrivateKey, sessions: sessionmaker[Session]
) -> None:
    for body in (b"{not json", b'{"event": "open"}', b"[1, 2]"):
        response = post(server, body, signed_headers(signing_key, body))
        assert response.status_code == 400
    assert counts(sessions)[0] == 0


def test_without_a_configured_key_nothing_is_accepted(
    live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    body = b"[]"
    response = post(live_server, body, signed_headers(key, body))
    assert response.status_code == 503
    assert "webhook_public_key" in response.json()["error"]


def test_an_oversized_body_is_refused_before_reading(
    server: LiveServer, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    body = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    response = post(server, body, signed_headers(signing_key, body))
    assert response.status_code == 413


def test_erased_people_stay_anonymous_and_a_bounce_without_our_id_still_suppresses(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
) -> None:
    from mailer.subscribers.service import delete_subscriber

    with sessions() as session, session.begin():
        delete_subscriber(session, "reader@example.com")
    late_open = event("open", people["reader"], people["campaign"], 1, ip="203.0.113.9")
    late_open["email"] = "reader@example.com"
    # e.g. the signup confirmation email: sent without our custom_args
    confirmation_bounce = {
        "email": "Blocked@Example.com",
        "event": "bounce",
        "type": "bounce",
        "sg_event_id": "evt-confirmation-bounce",
        "timestamp": 1_700_000_100,
    }
    body = json.dumps([late_open, confirmation_bounce]).encode()
    response = post(server, body, signed_headers(signing_key, body))
    assert response.status_code == 200 and response.json()["suppressed"] == 1
    with sessions() as session:
        opened = session.scalars(select(Event).where(Event.kind == EventKind.OPENED)).one()
        assert opened.subscriber_id is None and opened.campaign_id == people["campaign"]
        assert "email" not in opened.raw and "ip" not in opened.raw
        assert session.get_one(Subscriber, people["blocked"]).status == "bounced"
        bounce = session.scalars(select(Event).where(Event.kind == EventKind.BOUNCED)).one()
        assert bounce.subscriber_id == people["blocked"] and bounce.campaign_id is None


def test_odd_timestamp_headers_are_refused_never_a_500(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
) -> None:
    """Issue 10 item 18: a timestamp header with digits that are digits only to str.isdigit()
    (Arabic-Indic '١٧٠٠٠٠٠٠٠٠', superscript '²') was a 500; it is a 403 and changes nothing."""
    body = json.dumps(good_batch(people)).encode()
    headers = signed_headers(signing_key, body)
    stamp = headers[TS]
    before = counts(sessions)
    for odd in (
        "١٧٠٠٠٠٠٠٠٠".encode(),  # UTF-8 bytes on the wire
        (stamp[:-1] + "²").encode("latin-1"),  # one byte, read as '²' by the server
        "¹²³".encode("latin-1"),
        b"\xff" * 10,
        b"-1",
        b"1e9",
    ):
        response = post(server, body, {**headers, TS: odd})  # type: ignore[dict-item]
        assert response.status_code == 403, odd
    assert counts(sessions) == before


@pytest.mark.both_databases
def test_deep_nesting_and_unstorable_values_skip_one_event_and_keep_the_batch(
    server: LiveServer,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 10 item 18: a body nested 2,000 deep was a 500 and a NaN failed the whole batch on
    PostgreSQL (its JSON refuses NaN). Now a body that is nothing but nesting is a 400, and in
    a batch each unusable event (nested deep, NaN, Infinity, NUL, lone surrogate, not an
    object) is skipped and logged without its content while the valid events are stored."""
    deep = b"[" * 2000 + b"]" * 2000
    response = post(server, deep, signed_headers(signing_key, deep))
    assert response.status_code == 400
    assert counts(sessions)[0] == 0

    c = people["campaign"]
    valid = [event("delivered", people["reader"], c, n) for n in range(3)]
    valid.append(event("bounce", people["bounce"], c, 3, type="bounce"))
    secret = "private.person@example.org"
    person = f'"email": "{secret}"'
    bad = [
        f'{{"event": "open", {person}, "nested": {deep.decode()}}}',
        f'{{"event": "open", {person}, "sg_event_id": "nan", "timestamp": NaN}}',
        f'{{"event": "delivered", {person}, "sg_event_id": "inf", "timestamp": 1e999}}',
        f'{{"event": "bounce", {person}, "sg_event_id": "nul\\u0000"}}',
        f'{{"event": "open", {person}, "reason": "\\udc00"}}',
        f'"{secret}"',
    ]
    parts = [json.dumps(item) for item in valid]
    text = "[" + ", ".join([parts[0], *bad[:3], parts[1], *bad[3:], *parts[2:]]) + "]"
    body = text.encode()
    with caplog.at_level(logging.WARNING, logger="mailer.web.webhooks"):
        response = post(server, body, signed_headers(signing_key, body))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["received"] == 10 and result["skipped"] == 6
    assert result["stored"] == 4 and result["suppressed"] == 1
    with sessions() as session:
        stored = set(session.scalars(select(Event.source_event_id)))
        assert stored == {item["sg_event_id"] for item in valid}
        assert session.get_one(Subscriber, people["bounce"]).status == "bounced"
    warnings = [r.getMessage() for r in caplog.records if r.name == "mailer.web.webhooks"]
    assert len(warnings) == 6
    assert not any(secret in line or "private" in line for line in warnings)
    assert any("NaN" in line for line in warnings) and any("deeper" in line for line in warnings)


# Any text, NUL and lone surrogates included (json.dumps writes them as \u escapes).
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=30)
JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner),
    max_leaves=12,
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
FUZZ_EVENT = st.fixed_dictionaries(
    {"event": st.sampled_from(["delivered", "open", "click", "bounce", "unsubscribe", "x"])},
    optional={
        "sg_event_id": ANY_TEXT | JSON,
        "subscriber_id": st.integers(min_value=-(2**70), max_value=2**70).map(str) | JSON,
        "campaign_id": st.integers(min_value=-1, max_value=3) | JSON,
        "campaign_slug": st.just(SLUG) | JSON,
        "timestamp": st.integers(min_value=0, max_value=2**40) | st.floats() | NON_FINITE | JSON,
        "email": st.emails() | JSON,
        "type": st.sampled_from(["bounce", "blocked"]) | JSON,
        "url": JSON,
        "category": JSON,
    },
)
FUZZ_BODY = st.one_of(
    st.lists(FUZZ_EVENT, min_size=1, max_size=6).map(lambda items: json.dumps(items).encode()),
    st.lists(FUZZ_EVENT | JSON, max_size=6).map(lambda items: json.dumps(items).encode()),
    JSON.map(lambda item: json.dumps(item).encode()),
    st.binary(max_size=60),
)


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    """One client for many requests (making one per request costs ~30 ms), closed before the
    server stops."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


FUZZ = settings(
    max_examples=150,  # per backend
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.both_databases  # NaN, NUL and lone surrogates are refused by PostgreSQL only
@FUZZ
@given(body=FUZZ_BODY)
def test_fuzzed_signed_bodies_are_never_a_500(
    client: httpx.Client,
    signing_key: ec.EllipticCurvePrivateKey,
    people: dict[str, int],
    body: bytes,
) -> None:
    """Issue 10 item 18: any signed body (random JSON, events with random field values, NaN and
    Infinity, huge numbers, NUL and lone surrogates, random bytes) is stored (200, each element
    accounted for) or refused (400), on SQLite and PostgreSQL; never a 500."""
    response = client.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(signing_key, body)
    )
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 200:
        result = response.json()
        accounted = result["stored"] + result["duplicates"] + result["ignored"]
        assert accounted + result.get("skipped", 0) == result["received"]


# Header values an HTTP client can send (no control characters; UTF-8 bytes on the wire).
HEADER_VALUE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=24).map(str.strip)


@FUZZ
@given(stamp=st.none() | HEADER_VALUE, signature=st.none() | HEADER_VALUE)
def test_fuzzed_signature_headers_are_a_403_never_a_500(
    client: httpx.Client,
    signing_key: ec.EllipticCurvePrivateKey,
    stamp: str | None,
    signature: str | None,
) -> None:
    """Issue 10 item 18: whatever the timestamp and signature headers hold (or if missing),
    a request not signed by the key is a 403."""
    body = b'[{"event": "open", "sg_event_id": "fuzz"}]'
    headers: dict[str, Any] = signed_headers(signing_key, body)
    headers[TS] = stamp.encode() if stamp is not None else None
    headers[SIG] = signature.encode() if signature is not None else None
    response = client.post(
        "/webhooks/sendgrid",
        content=body,
        headers={name: value for name, value in headers.items() if value is not None},
    )
    assert response.status_code == 403, (response.status_code, response.text)
