"""Which campaign, button and article brought a booking: three ways, the surest first.

1. ``ref``: a click reference (refs.py) among the values the tool passed back. It names the
   subscriber whose link was followed, the campaign run and the link, so the place. A booking by
   someone else through a forwarded email carries the forwarder's reference: it counts for the
   campaign and place all the same.
2. ``address``: no reference (the booker typed the booking page's address, or the tool dropped
   the parameters): the booker's address is a subscriber who clicked a booking link in the 30
   days before booking; the latest such click wins.
3. ``utm``: neither, but utm_campaign names a campaign that was sent: it counts for that
   campaign, at the place utm_content names if it is one of the campaign's (tracking.clicks off
   leaves utm_content as the place), else as place "unmatched"; no subscriber.

Otherwise the booking is not from a newsletter (``matched_by`` ""). The article: in a campaign
with one article, that one; in a digest, the article whose "Read more" the subscriber followed
last before booking (a person is needed to tell).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, bindparam, select

from mailer.bookings.model import BookingEvent
from mailer.bookings.refs import is_booking_link, read_ref
from mailer.store.models import CampaignRun, Click, Event, EventKind, Subscriber
from mailer.subscribers.normalize import InvalidAddress, guess_key, normalize_email
from mailer.tokens import SecretKey

ADDRESS_WINDOW = timedelta(days=30)
CLOCK_SKEW = timedelta(minutes=5)  # the booking tool's clock against ours
RECENT_CLICKS = 50  # the latest clicks of one person looked at for a booking link
ARTICLE_PLACE = "read-more"
UNMATCHED = "unmatched"


class Match:
    REF = "ref"
    ADDRESS = "address"
    UTM = "utm"
    NONE = ""


@dataclass(frozen=True)
class Attribution:
    campaign_id: int | None = None
    slug: str = ""
    place: str = ""
    article: str = ""
    subscriber_id: int | None = None
    matched_by: str = Match.NONE


@dataclass(frozen=True)
class _Run:
    id: int
    slug: str
    links: dict[int, dict[str, Any]]

    def place_of(self, index: Any) -> str:
        link = self.links.get(index) if isinstance(index, int) else None
        return str(link.get("place") or "") if link else ""

    def link_of(self, raw: dict[str, Any]) -> tuple[str, str]:
        """(url as sent, place) of a click event's link: ours name its index and place, a
        provider's its address."""
        index = raw.get("link_index")
        link = self.links.get(index) if isinstance(index, int) else None
        url = str(raw.get("url") or (link or {}).get("url") or "")
        place = str(raw.get("place") or (link or {}).get("place") or "")
        if not place and url:
            found = [item for item in self.links.values() if item.get("url") == url]
            place = str(found[0].get("place") or "") if found else ""
        return url, place

    def articles(self) -> dict[int, str]:
        return {
            index: without_utm(str(link.get("url") or ""))
            for index, link in self.links.items()
            if link.get("place") == ARTICLE_PLACE
        }


def without_utm(url: str) -> str:
    """The address without its utm_* parameters: one key per article whatever the campaign."""
    parts = urlsplit(url)
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.startswith("utm_")
    ]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _links(raw: Any) -> dict[int, dict[str, Any]]:
    return {
        link["index"]: link
        for link in raw or []
        if isinstance(link, dict) and isinstance(link.get("index"), int)
    }


# Built once (bound parameters): SQLAlchemy reuses their compiled form. Building a statement
# per query cost more than running it (2-3x the CPU of a whole booking, profiled).
_RUN_BY_ID = select(CampaignRun.slug, CampaignRun.links).where(
    CampaignRun.id == bindparam("run_id")
)
_RUN_BY_SLUG = select(CampaignRun.id, CampaignRun.links).where(
    CampaignRun.slug == bindparam("slug")
)
# A reference's run and whether its subscriber still exists (None: erased since), in one query.
_RUN_AND_SUBSCRIBER = select(
    CampaignRun.slug,
    CampaignRun.links,
    select(Subscriber.id)
    .where(Subscriber.id == bindparam("subscriber_id"))
    .scalar_subquery()
    .label("subscriber_id"),
).where(CampaignRun.id == bindparam("run_id"))
_SUBSCRIBER_BY_KEY = select(Subscriber.id).where(Subscriber.email_key == bindparam("key"))
_LATEST_ARTICLE = (
    select(Click.link_index)
    .where(
        Click.campaign_id == bindparam("run_id"),
        Click.subscriber_id == bindparam("subscriber_id"),
        Click.link_index.in_(bindparam("indexes", expanding=True)),
        Click.clicked_at <= bindparam("until"),
    )
    .order_by(Click.clicked_at.desc(), Click.id.desc())
    .limit(1)
)
_RECENT_CLICKS = (
    select(Event.campaign_id, Event.raw)
    .where(
        Event.subscriber_id == bindparam("subscriber_id"),
        Event.kind == EventKind.CLICKED,
        Event.campaign_id.is_not(None),
        Event.occurred_at >= bindparam("since"),
        Event.occurred_at <= bindparam("until"),
    )
    .order_by(Event.occurred_at.desc(), Event.id.desc())
    .limit(RECENT_CLICKS)
)


def _run_by_id(connection: Connection, run_id: int) -> _Run | None:
    row = connection.execute(_RUN_BY_ID, {"run_id": run_id}).first()
    return _Run(run_id, row.slug, _links(row.links)) if row else None


def _run_by_slug(connection: Connection, slug: str) -> _Run | None:
    row = connection.execute(_RUN_BY_SLUG, {"slug": slug}).first()
    return _Run(int(row.id), slug, _links(row.links)) if row else None


def email_key(email: str) -> str:
    """The address as Subscriber.email_key holds it ('' for none)."""
    if not email.strip():
        return ""
    try:
        return normalize_email(email).key
    except InvalidAddress:
        return guess_key(email)


def _article(connection: Connection, run: _Run, subscriber_id: int | None, before: datetime) -> str:
    articles = run.articles()
    if len(set(articles.values())) == 1:
        return next(iter(articles.values()))
    if not articles or subscriber_id is None:
        return ""
    latest = connection.scalar(
        _LATEST_ARTICLE,
        {
            "run_id": run.id,
            "subscriber_id": subscriber_id,
            "indexes": list(articles),
            "until": before + CLOCK_SKEW,
        },
    )
    return articles.get(latest, "") if latest is not None else ""


def _by_ref(
    connection: Connection, key: SecretKey, event: BookingEvent, when: datetime
) -> Attribution | None:
    for value in event.candidates:
        ref = read_ref(key, value)
        if ref is None:
            continue
        row = connection.execute(
            _RUN_AND_SUBSCRIBER, {"run_id": ref.run_id, "subscriber_id": ref.subscriber_id}
        ).first()
        if row is None:
            continue  # its campaign run was deleted since
        run = _Run(ref.run_id, row.slug, _links(row.links))
        subscriber_id = row.subscriber_id  # None: erased since
        return Attribution(
            campaign_id=run.id,
            slug=run.slug,
            place=run.place_of(ref.link_index) or UNMATCHED,
            article=_article(connection, run, subscriber_id, when),
            subscriber_id=subscriber_id,
            matched_by=Match.REF,
        )
    return None


def _by_address(
    connection: Connection, subscriber_id: int, booking_url: str, when: datetime
) -> Attribution | None:
    """The subscriber's latest click on a booking link within ADDRESS_WINDOW before ``when``:
    our own /c/ clicks and a provider's click events alike (read through the events' indexed
    subscriber_id)."""
    clicks = connection.execute(
        _RECENT_CLICKS,
        {
            "subscriber_id": subscriber_id,
            "since": when - ADDRESS_WINDOW,
            "until": when + CLOCK_SKEW,
        },
    ).all()
    runs: dict[int, _Run | None] = {}
    for campaign_id, raw in clicks:
        if campaign_id not in runs:
            runs[campaign_id] = _run_by_id(connection, campaign_id)
        run = runs[campaign_id]
        if run is None or not isinstance(raw, dict):
            continue
        url, place = run.link_of(raw)
        if is_booking_link(url, place, booking_url):
            return Attribution(
                campaign_id=run.id,
                slug=run.slug,
                place=place or UNMATCHED,
                article=_article(connection, run, subscriber_id, when),
                subscriber_id=subscriber_id,
                matched_by=Match.ADDRESS,
            )
    return None


def _by_utm(connection: Connection, params: dict[str, str], when: datetime) -> Attribution | None:
    slug = params.get("utm_campaign", "")
    run = _run_by_slug(connection, slug) if slug else None
    if run is None:
        return None
    content = params.get("utm_content", "")
    places = {str(link.get("place") or "") for link in run.links.values()}
    return Attribution(
        campaign_id=run.id,
        slug=run.slug,
        place=content if content and content in places else UNMATCHED,
        article=_article(connection, run, None, when),
        matched_by=Match.UTM,
    )


def attribute(
    connection: Connection,
    key: SecretKey,
    event: BookingEvent,
    address_key: str,
    booking_url: str,
    now: datetime,
) -> Attribution:
    """The campaign, place and article of a booking (``Attribution()`` when none);
    ``address_key`` is the booker's address as email_key() gives it."""
    when = event.booked_at or now
    found = _by_ref(connection, key, event, when)
    if found is None and address_key:
        subscriber_id = connection.scalar(_SUBSCRIBER_BY_KEY, {"key": address_key})
        if subscriber_id is not None:
            found = _by_address(connection, int(subscriber_id), booking_url, when)
    if found is None:
        found = _by_utm(connection, event.params, when)
    return found or Attribution()
