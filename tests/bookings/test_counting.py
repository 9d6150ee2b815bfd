"""A booking counts once, whatever the tool sends: cancellation before creation, retries,
reschedules in either order, on SQLite and PostgreSQL (through the real endpoints)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.bookings import payloads
from tests.bookings.conftest import ANA, Loop

pytestmark = pytest.mark.both_databases  # storage rules: SQLite and PostgreSQL


def test_cancellation_before_creation_never_counts(loop: Loop) -> None:
    tracking = loop.follow(ANA, "cta-top")
    cancel = loop.calendly(payloads.calendly("invitee.canceled", tracking=tracking))
    assert cancel.status_code == 200 and cancel.json()["state"] == "canceled"
    create = loop.calendly(payloads.calendly(tracking=tracking))
    assert create.status_code == 200 and create.json()["outcome"] == "duplicate"
    assert loop.states() == ["canceled"]
    [row] = loop.bookings()
    assert (row.place, row.matched_by) == ("cta-top", "ref")  # a cancellation of that campaign


def test_create_then_cancel_then_retries(loop: Loop) -> None:
    tracking = loop.follow(ANA, "cta-top")
    assert loop.calendly(payloads.calendly(tracking=tracking)).json()["outcome"] == "stored"
    canceled = payloads.calendly("invitee.canceled", tracking=tracking)
    assert loop.calendly(canceled).json()["outcome"] == "canceled"
    for document in (canceled, payloads.calendly(tracking=tracking)):
        assert loop.calendly(document).json()["outcome"] == "duplicate"
    assert loop.states() == ["canceled"]


def test_calendly_reschedule_moves_the_count_in_either_order(loop: Loop) -> None:
    """Calendly reschedules as: invitee.canceled (rescheduled: true, new_invitee) for the old
    invitee and invitee.created (old_invitee) for the new one."""
    tracking = loop.follow(ANA, "cta-bottom")
    old, new = "INVOLD0000000001", "INVNEW0000000001"
    loop.calendly(payloads.calendly(invitee=old, tracking=tracking))
    created = payloads.calendly(invitee=new, old_invitee=old)  # no tracking on the new one
    canceled = payloads.calendly(
        "invitee.canceled", invitee=old, new_invitee=new, rescheduled=True, tracking=tracking
    )
    assert loop.calendly(created).json()["place"] == "cta-bottom"  # attribution carried over
    assert loop.calendly(canceled).json()["state"] == "rescheduled"
    assert sorted(loop.states()) == ["booked", "rescheduled"]

    # The other order, for another pair: the old invitee's creation arriving last.
    old2, new2 = "INVOLD0000000002", "INVNEW0000000002"
    loop.calendly(payloads.calendly(invitee=new2, old_invitee=old2, tracking=tracking))
    loop.calendly(
        payloads.calendly(
            "invitee.canceled", invitee=old2, new_invitee=new2, rescheduled=True, tracking=tracking
        )
    )
    late = loop.calendly(payloads.calendly(invitee=old2, tracking=tracking))
    assert late.json()["outcome"] == "duplicate"  # stored by its cancellation already
    states = loop.states()
    assert states.count("booked") == 2 and states.count("canceled") == 0

    # And: the new one first, then the old one's creation, then nothing else.
    old3, new3 = "INVOLD0000000003", "INVNEW0000000003"
    loop.calendly(payloads.calendly(invitee=new3, old_invitee=old3, tracking=tracking))
    assert (
        loop.calendly(payloads.calendly(invitee=old3, tracking=tracking)).json()["state"]
        == "rescheduled"
    )
    assert loop.states().count("booked") == 3


def test_calcom_created_rescheduled_cancelled(loop: Loop) -> None:
    """Cal.com hands back the booking link's metadata[...] parameters in payload.metadata."""
    query = loop.follow(ANA, "cta-top")
    metadata = {"videoCallUrl": "https://cal.com/video/x", "utm_term": query["utm_term"]}
    created = loop.calcom(payloads.calcom(uid="CALUID0000000001", metadata=metadata))
    assert created.json() == {
        "outcome": "stored",
        "state": "booked",
        "campaign": loop.sent.slug,
        "place": "cta-top",
        "matched_by": "ref",
    }
    assert (
        loop.calcom(payloads.calcom(uid="CALUID0000000001", metadata=metadata)).json()["outcome"]
        == "duplicate"
    )
    moved = payloads.calcom(
        "BOOKING_RESCHEDULED", uid="CALUID0000000002", reschedule_uid="CALUID0000000001"
    )
    assert loop.calcom(moved).json()["place"] == "cta-top"
    assert sorted(loop.states()) == ["booked", "rescheduled"]
    gone = loop.calcom(payloads.calcom("BOOKING_CANCELLED", uid="CALUID0000000002"))
    assert gone.json()["outcome"] == "canceled"
    assert loop.states().count("booked") == 0


def test_calcom_hidden_booking_questions_carry_the_reference(loop: Loop) -> None:
    """A self-hosted Cal.com: hidden questions named utm_campaign/utm_content/utm_term."""
    query = loop.follow(ANA, "cta-bottom")
    answers = {
        name: {"label": name, "value": query[name], "isHidden": True}
        for name in ("utm_campaign", "utm_content", "utm_term")
    }
    response = loop.calcom(payloads.calcom(uid="CALUID0000000009", responses=answers))
    assert (response.json()["place"], response.json()["matched_by"]) == ("cta-bottom", "ref")


def test_generic_body_created_and_canceled(loop: Loop) -> None:
    query = loop.follow(ANA, "cta-top")
    created = loop.generic(payloads.generic(external_id="crm-1", **query))
    assert created.json()["matched_by"] == "ref"
    assert (
        loop.generic(payloads.generic(external_id="crm-1", **query)).json()["outcome"]
        == "duplicate"
    )
    canceled = loop.generic(payloads.generic("booking.cancelled", external_id="crm-1"))
    assert canceled.json()["outcome"] == "canceled"
    assert loop.states() == ["canceled"]


def test_the_same_id_from_two_tools_is_two_bookings(loop: Loop) -> None:
    query = loop.follow(ANA, "cta-top")
    loop.generic(payloads.generic(external_id="bFJeNb2uX8ANpT3JL5EfXw", **query))
    loop.calcom(payloads.calcom(uid="bFJeNb2uX8ANpT3JL5EfXw", metadata=query))
    assert loop.states() == ["booked", "booked"]


def test_concurrent_deliveries_of_one_booking_store_it_once(loop: Loop) -> None:
    """Calendly's retry racing the first delivery (and a cancellation racing its creation):
    the unique index decides; one row, counted once or canceled."""
    tracking = loop.follow(ANA, "cta-top")
    created = payloads.body(payloads.calendly(invitee="INVRACE000000001", tracking=tracking))
    canceled = payloads.body(
        payloads.calendly("invitee.canceled", invitee="INVRACE000000002", tracking=tracking)
    )
    created2 = payloads.body(payloads.calendly(invitee="INVRACE000000002", tracking=tracking))
    jobs = [created] * 6 + [canceled, created2] * 3

    def post(raw: bytes) -> str:
        with httpx.Client(base_url=loop.server.url, timeout=30) as client:
            response = client.post(
                "/webhooks/calendly", content=raw, headers=payloads.calendly_headers(raw)
            )
            assert response.status_code == 200, response.text
            return str(response.json()["outcome"])

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        outcomes = list(pool.map(post, jobs))
    assert outcomes[:6].count("stored") == 1
    assert sorted(loop.states()) == ["booked", "canceled"]
