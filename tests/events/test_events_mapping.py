"""Each SendGrid event type in our vocabulary, custom_args read back, odd input tolerated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mailer.events.sources.sendgrid import PayloadError, map_event, parse_batch
from mailer.store.models import EventKind


def sendgrid(kind: str, **extra: Any) -> dict[str, Any]:
    # As SendGrid posts it: our custom_args come back as top-level keys.
    return {
        "email": "reader@example.com",
        "timestamp": 1_700_000_000,
        "event": kind,
        "sg_event_id": "ZmE2YjM0",
        "sg_message_id": "abc.filter0001",
        "subscriber_id": "42",
        "campaign_slug": "spring-issue",
        "campaign_id": "7",
        **extra,
    }


@pytest.mark.parametrize(
    ("sendgrid_type", "kind"),
    [
        ("processed", EventKind.PROCESSED),
        ("delivered", EventKind.DELIVERED),
        ("deferred", EventKind.DEFERRED),
        ("bounce", EventKind.BOUNCED),
        ("dropped", EventKind.DROPPED),
        ("open", EventKind.OPENED),
        ("click", EventKind.CLICKED),
        ("spamreport", EventKind.COMPLAINED),
        ("unsubscribe", EventKind.UNSUBSCRIBED),
        ("group_unsubscribe", EventKind.UNSUBSCRIBED),
    ],
)
def test_every_sendgrid_event_type_maps_to_one_kind(sendgrid_type: str, kind: str) -> None:
    raw = sendgrid(sendgrid_type)
    mapped = map_event(raw)
    assert mapped is not None
    assert mapped.kind == kind
    assert mapped.source_event_id == "ZmE2YjM0"
    assert mapped.subscriber_id == 42
    assert mapped.campaign_id == 7 and mapped.campaign_slug == "spring-issue"
    assert mapped.occurred_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert mapped.raw is raw


def test_a_hard_bounce_bounces_but_a_block_is_only_not_delivered() -> None:
    hard = map_event(sendgrid("bounce", type="bounce", reason="550 5.1.1 unknown user"))
    blocked = map_event(sendgrid("bounce", type="blocked", reason="554 poor reputation"))
    assert hard is not None and hard.kind == EventKind.BOUNCED
    assert blocked is not None and blocked.kind == EventKind.DROPPED
    assert EventKind.DROPPED not in EventKind.SUPPRESSING


def test_unknown_types_are_not_recorded() -> None:
    for kind in ("group_resubscribe", "machine_opened", "", None):
        assert map_event({"event": kind}) is None


def test_odd_values_never_crash_and_are_left_empty() -> None:
    odd = map_event(
        {
            "event": "open",
            "sg_event_id": "x" * 500,
            "subscriber_id": "42; drop table",
            "campaign_id": True,
            "campaign_slug": ["list"],
            "timestamp": "yesterday",
        }
    )
    assert odd is not None
    assert odd.source_event_id is None and odd.subscriber_id is None
    assert odd.campaign_id is None and odd.campaign_slug == "" and odd.occurred_at is None
    huge = map_event(sendgrid("open", subscriber_id=str(2**70), timestamp=10**20))
    assert huge is not None and huge.subscriber_id is None and huge.occurred_at is None
    numeric = map_event(sendgrid("open", subscriber_id=42, campaign_id=-3))
    assert numeric is not None and numeric.subscriber_id == 42 and numeric.campaign_id is None


def test_parse_batch_wants_an_array_of_objects() -> None:
    assert parse_batch(b'[{"event": "open"}]').events == [{"event": "open"}]
    assert parse_batch(b"[]").events == []
    for body in (b"", b"{", b'{"event": "open"}', b"[3]", b"\xff\xfe"):
        with pytest.raises(PayloadError):
            parse_batch(body)


def test_parse_batch_skips_unusable_elements_and_keeps_the_rest() -> None:
    """Issue 10 item 18: one malformed element (not an object, nested 2,000 deep, NaN or
    Infinity, a NUL or a lone surrogate, an integer too long for Python) is skipped with its
    position and reason; the valid events around it are kept. A body that is nothing but
    nesting is refused as a whole (PayloadError, a 400), never a RecursionError (a 500)."""
    deep = "[" * 2000 + "]" * 2000
    elements = [
        '{"event": "open", "sg_event_id": "a", "category": ["x", "y,]}["]}',
        "3",
        '{"event": "open", "nested": ' + deep + "}",
        '{"event": "open", "timestamp": NaN}',
        '{"event": "open", "timestamp": -Infinity}',
        '{"event": "open", "timestamp": 1e999}',
        r'{"event": "open", "sg_event_id": "\u0000"}',
        r'{"event": "open", "reason": "\ud800"}',
        '{"event": "open", "big": ' + "7" * 5000 + "}",
        r'{"event": "open", "sg_event_id": "b", "ok": "\ud83d\ude00"}',
    ]
    batch = parse_batch(("[" + ", ".join(elements) + "]").encode())
    assert [event.get("sg_event_id") for event in batch.events] == ["a", "b"]
    assert batch.events[1]["ok"] == "\U0001f600"  # a surrogate pair is one character
    assert batch.received == 10
    reasons = {skipped.position: skipped.reason for skipped in batch.skipped}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert "object" in reasons[1] and "deeper" in reasons[2] and "long" in reasons[8]
    assert all("NaN" in reasons[n] for n in (3, 4, 5))
    assert all("NUL" in reasons[n] for n in (6, 7))
    for body in (deep.encode(), b"[" * 2000, ("[" + deep + "]").encode()):
        with pytest.raises(PayloadError):
            parse_batch(body)
