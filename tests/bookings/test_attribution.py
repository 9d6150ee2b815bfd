"""What brought a booking: the signed click reference, else a recent booking click by the
booker's address (latest wins, 30 days), else utm_campaign alone ("unmatched"); a forwarded
email's booking counts; a forged reference attributes nothing to anyone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from mailer.bookings.refs import make_ref, read_ref
from mailer.store.booking_models import Booking
from mailer.store.models import Event, EventKind
from mailer.tokens import SecretKey
from tests.bookings import payloads
from tests.bookings.conftest import ANA, BEN, Loop

NO_TRACKING: dict[str, str | None] = {}
DIGEST = """---
subject: Desk posture and balance
status: approved
---
Two short reads this week.

[[button "Read more" https://www.summitspine.example/blog/desk-posture]]

And one on balance.

[[button "Read more" https://www.summitspine.example/blog/balance]]

[[cta]]
"""


def _age_clicks(loop: Loop, address: str, days: float) -> None:
    """Move ``address``'s recorded clicks ``days`` into the past."""
    with loop.sent.sessions() as session, session.begin():
        when = datetime.now(UTC) - timedelta(days=days)
        session.execute(
            update(Event)
            .where(Event.subscriber_id == loop.sent.ids[address], Event.kind == EventKind.CLICKED)
            .values(occurred_at=when)
        )


def test_no_reference_a_subscriber_who_clicked_lately_latest_click_wins(loop: Loop) -> None:
    loop.follow(ANA, "cta-top")
    _age_clicks(loop, ANA, 3)
    loop.follow(ANA, "cta-bottom")  # the latest booking click
    loop.follow(ANA, "read-more")  # later still, but not a booking link
    response = loop.calendly(payloads.calendly(invitee="INVADDR000000001", tracking=NO_TRACKING))
    assert response.json()["matched_by"] == "address"
    assert response.json()["place"] == "cta-bottom"
    [booking] = loop.bookings()
    assert booking.subscriber_id == loop.sent.ids[ANA]


def test_a_booking_click_more_than_30_days_old_does_not_count(loop: Loop) -> None:
    loop.follow(BEN, "cta-top")
    _age_clicks(loop, BEN, 31)
    response = loop.calendly(payloads.calendly(invitee="INVOLD0000000031", email=BEN))
    assert response.json()["matched_by"] == "" and response.json()["campaign"] == ""
    _age_clicks(loop, BEN, 29)
    response = loop.calendly(payloads.calendly(invitee="INVOLD0000000029", email=BEN))
    assert response.json()["matched_by"] == "address"
    unattributed, attributed = loop.bookings()
    # Not from a newsletter: nothing about the person kept at all.
    assert unattributed.campaign_id is None and unattributed.email_hash is None
    assert unattributed.params == {} and unattributed.subscriber_id is None
    assert attributed.campaign_id is not None


def test_utm_campaign_alone_counts_as_unmatched(loop: Loop) -> None:
    utm = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": loop.sent.slug}
    stranger = "walk-in@example.org"
    placed = loop.calendly(
        payloads.calendly(
            invitee="INVUTM0000000001", email=stranger, tracking={**utm, "utm_content": "cta-top"}
        )
    )
    assert (placed.json()["matched_by"], placed.json()["place"]) == ("utm", "cta-top")
    unknown_place = loop.calendly(
        payloads.calendly(
            invitee="INVUTM0000000002", email=stranger, tracking={**utm, "utm_content": "x"}
        )
    )
    assert (unknown_place.json()["matched_by"], unknown_place.json()["place"]) == (
        "utm",
        "unmatched",
    )
    other = loop.calendly(
        payloads.calendly(
            invitee="INVUTM0000000003", email=stranger, tracking={"utm_campaign": "never-sent"}
        )
    )
    assert other.json()["campaign"] == ""
    assert all(row.subscriber_id is None for row in loop.bookings())


def test_a_forwarded_email_booking_counts_for_the_campaign(loop: Loop) -> None:
    """Ana forwarded the issue; her friend, not a subscriber, booked through her link."""
    tracking = loop.follow(ANA, "cta-top")
    response = loop.calendly(
        payloads.calendly(invitee="INVFWD0000000001", email="friend@example.org", tracking=tracking)
    )
    assert (response.json()["campaign"], response.json()["place"]) == (loop.sent.slug, "cta-top")
    assert response.json()["matched_by"] == "ref"


def test_a_forged_or_altered_reference_attributes_to_no_one(loop: Loop) -> None:
    tracking = loop.follow(ANA, "cta-top")
    run = loop.run()
    key = SecretKey.for_workspace(loop.sent.workspace)
    real = read_ref(key, tracking["utm_term"])
    assert real is not None and real.subscriber_id == loop.sent.ids[ANA]
    # Someone who knows the format signs Ben's reference with a key of their own, or alters
    # Ana's: neither names anyone; the booking counts by utm_campaign only ("unmatched").
    forged = make_ref(b"attacker-key", loop.sent.ids[BEN], run.id, 0)
    altered = tracking["utm_term"][:-2] + ("AA" if tracking["utm_term"][-2:] != "AA" else "BB")
    for n, bad in enumerate((forged, altered)):
        response = loop.calendly(
            payloads.calendly(
                invitee=f"INVFORGED00000{n}",
                email="mallory@example.org",
                tracking={**tracking, "utm_term": bad},
            )
        )
        assert response.json()["matched_by"] == "utm", bad
    assert all(row.subscriber_id is None for row in loop.bookings())


def test_digest_bookings_by_article(loop: Loop) -> None:
    loop.sent.send("desk-and-balance", DIGEST)
    run = loop.run("desk-and-balance")
    balance = next(link for link in run.links if "/blog/balance" in link["url"])
    digest_urls = _click_urls(loop, ANA, "desk-and-balance")
    loop.client.get(next(u for u in digest_urls if u.endswith(f".{balance['index']}")))
    cta = next(link for link in run.links if link["place"] == "cta-top")
    location = loop.client.get(next(u for u in digest_urls if u.endswith(f".{cta['index']}")))
    tracking = _query(location.headers["location"])
    response = loop.calendly(payloads.calendly(invitee="INVDIGEST0000001", tracking=tracking))
    assert response.json()["campaign"] == "desk-and-balance"
    [booking] = loop.bookings()
    assert booking.article == "https://www.summitspine.example/blog/balance"
    # The one-article issue: its article, whoever booked.
    single = loop.calendly(
        payloads.calendly(invitee="INVSINGLE0000001", tracking=loop.follow(BEN, "cta-top"))
    )
    assert single.json()["campaign"] == loop.sent.slug
    with loop.sent.sessions() as session:
        articles = list(session.scalars(select(Booking.article).order_by(Booking.id)))
    assert articles[1] == "https://www.summitspine.example/blog/sleep"


def _click_urls(loop: Loop, address: str, slug: str) -> list[str]:
    part = loop.sent.eml(address, slug).get_body(preferencelist=("html",))
    assert part is not None
    return re.findall(r'href="(http[^"]*/c/[^"]+)"', str(part.get_content()))


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
