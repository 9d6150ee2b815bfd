"""A campaign's figures: the ledger's counts, and what recorded events and clicks tell.

Per-person figures (delivered, bounced, opened_unique, clicked_unique, unsubscribed, complaints)
count each subscriber once, however many events they caused. Clicks come from two places: our own
/c/ redirect (Click rows, with the link's place) and SendGrid click events. A SendGrid click counts
only when its url is a link as sent (tracking.clicks off: links go straight to the site); a click
on a /c/ link is already a Click row, so counting the event too would count it twice.

``unsubscribed`` is current state: the people who unsubscribed through this campaign and are
still off the list (unsubscribed, or since bounced, complained or erased). An unsubscribe undone
on the unsubscribe page, or by signing up again, no longer counts. (Provider event times and our
own history are different clocks, so "still off" is read from the status now; someone who
undid it and later unsubscribed through another issue counts for both.)

Bookings (mailer.bookings.report): the consultations booked through the campaign, as the booking
tool's signed webhook reported them, current (cancellations subtracted), by place and by article,
and per recipient and per clicker. ``bookings`` is None ("no booking webhook connected") while no
booking webhook key is set and no booking was ever recorded: a 0 there would read as "nobody
booked".

Figures only a provider's events can tell (delivered, bounced, opened_unique, complaints) are
None, shown as "not available with this provider", when the campaign's provider sends no events
back (the outbox, SMTP) and no provider event was recorded for the run: a 0 there would read as
"nothing was delivered". Which provider: the workspace's delivery.provider, passed in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select, union
from sqlalchemy.orm import Session, sessionmaker

from mailer.bookings.report import BookingFigures, campaign_bookings, connected, rate
from mailer.delivery.ledger import Ledger
from mailer.states import DeliveryState, EventKind, SubscriberStatus
from mailer.store.models import CampaignRun, Click, Delivery, Event, Subscriber
from mailer.words import plural

# Filled from provider events and clicks (Event and Click rows).
EVENT_FIGURES = (
    "delivered",
    "bounced",
    "opened_unique",
    "clicked_unique",
    "cta_clicks",
    "unsubscribed",
    "complaints",
)
PER_PERSON = {
    "delivered": EventKind.DELIVERED,
    "bounced": EventKind.BOUNCED,
    "opened_unique": EventKind.OPENED,
    "complaints": EventKind.COMPLAINED,
}
# Figures that only a provider's own events (SendGrid's Event Webhook) can tell.
PROVIDER_FIGURES = ("delivered", "bounced", "opened_unique", "complaints")
PROVIDERS_WITH_EVENTS = frozenset({"sendgrid"})
# Events our own endpoints record (clicks, unsubscribes): not a provider's.
OWN_SOURCE = "web"
NOT_AVAILABLE = "not available with this provider"
NOT_CONNECTED = "no booking webhook connected (see docs/bookings.md)"


@dataclass
class CampaignReport:
    """`mailer report --json`: the Contract's figures and more; None where not available."""

    campaign: str
    state: str
    provider: str
    recipients: int
    sent: int
    failed: int
    skipped: int
    pending: int
    possible_duplicates: int
    delivered: int | None
    bounced: int | None
    opened_unique: int | None
    clicked_unique: int
    cta_clicks: int
    unsubscribed: int
    complaints: int | None
    clicks: int
    clicks_by_place: dict[str, int] = field(default_factory=dict)
    clicks_by_link: list[dict[str, Any]] = field(default_factory=list)
    # The figures above that are None: the provider cannot report them.
    not_available: list[str] = field(default_factory=list)
    pause_reason: str = ""
    # Consultations booked (mailer.bookings): None while no booking webhook is connected.
    bookings: int | None = None
    booking_cancellations: int = 0
    bookings_unmatched: int = 0  # found through utm_campaign alone: no person known
    bookings_by_place: dict[str, int] = field(default_factory=dict)
    bookings_by_article: dict[str, int] = field(default_factory=dict)
    booking_rate_per_recipient: float | None = None
    booking_rate_per_clicker: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_cta(place: str) -> bool:
    """Calls to action are placed cta-top, cta-middle, cta-bottom..."""
    return place == "cta" or place.startswith("cta-")


def _people_by_kind(session: Session, run_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Event.kind, func.count(func.distinct(Event.subscriber_id)))
        .where(Event.campaign_id == run_id, Event.kind.in_(PER_PERSON.values()))
        .group_by(Event.kind)
    ).all()
    found = {kind: int(n) for kind, n in rows}
    return {name: found.get(kind, 0) for name, kind in PER_PERSON.items()}


def _unsubscribed(session: Session, run_id: int) -> int:
    """People who unsubscribed through this campaign and are still off the list now."""
    people = (
        select(Event.subscriber_id)
        .where(
            Event.campaign_id == run_id,
            Event.kind == EventKind.UNSUBSCRIBED,
            Event.subscriber_id.is_not(None),
        )
        .distinct()
        .subquery()
    )
    still_off = or_(Subscriber.id.is_(None), Subscriber.status.in_(SubscriberStatus.SUPPRESSED))
    query = (
        select(func.count())
        .select_from(people)
        .outerjoin(Subscriber, Subscriber.id == people.c.subscriber_id)
        .where(still_off)
    )
    return int(session.scalar(query) or 0)


def _has_provider_events(session: Session, run_id: int) -> bool:
    return bool(
        session.scalar(
            select(exists().where(Event.campaign_id == run_id, Event.source != OWN_SOURCE))
        )
    )


def _clickers(session: Session, run_id: int) -> int:
    people = union(
        select(Click.subscriber_id).where(
            Click.campaign_id == run_id, Click.subscriber_id.is_not(None)
        ),
        select(Event.subscriber_id).where(
            Event.campaign_id == run_id,
            Event.kind == EventKind.CLICKED,
            Event.subscriber_id.is_not(None),
        ),
    ).subquery()
    return int(session.scalar(select(func.count()).select_from(people)) or 0)


def _clicks_by_link(session: Session, run: CampaignRun) -> list[dict[str, Any]]:
    """Every link as sent with its clicks and distinct clickers, most clicked first.

    Our own clicks are counted per link by the database, from the index on (campaign,
    link, subscriber) alone (migration 0660): reading 20,000 Click rows into Python took
    150 ms of a 100,000-recipient results page. Provider click events are few (only links
    sent without our redirect) and are matched to a link by their url here."""
    links: dict[int, dict[str, Any]] = {}
    for link in run.links or []:
        index = int(link.get("index", len(links)))
        links[index] = {
            "index": index,
            "url": str(link.get("url", "")),
            "place": str(link.get("place", "")),
            "text": str(link.get("text", "")),
        }
    clicks: Counter[int] = Counter()
    unique: Counter[int] = Counter()
    for index, count, people in session.execute(
        select(Click.link_index, func.count(), func.count(func.distinct(Click.subscriber_id)))
        .where(Click.campaign_id == run.id)
        .group_by(Click.link_index)
    ):
        clicks[index] += int(count)
        unique[index] = int(people)
    unknown = [index for index in clicks if index not in links]
    if unknown:  # a link the run does not list (runs of older versions): as the clicks say
        for index, url, place in session.execute(
            select(Click.link_index, func.min(Click.url), func.min(Click.place))
            .where(Click.campaign_id == run.id, Click.link_index.in_(unknown))
            .group_by(Click.link_index)
        ):
            links[index] = {"index": index, "url": url, "place": place, "text": ""}
    by_url = {link["url"]: index for index, link in links.items()}
    from_events: defaultdict[int, set[int | None]] = defaultdict(set)
    for url, subscriber in session.execute(
        select(Event.raw["url"].as_string(), Event.subscriber_id).where(
            Event.campaign_id == run.id, Event.kind == EventKind.CLICKED
        )
    ):
        if url in by_url:
            clicks[by_url[url]] += 1
            from_events[by_url[url]].add(subscriber)
    for index, clickers in from_events.items():
        # The distinct people of both sources: our clickers of this link join the set.
        clickers |= set(
            session.scalars(
                select(Click.subscriber_id)
                .where(Click.campaign_id == run.id, Click.link_index == index)
                .distinct()
            )
        )
        unique[index] = len(clickers - {None})
    rows = [
        {**link, "clicks": clicks[index], "unique": unique[index]} for index, link in links.items()
    ]
    rows.sort(key=lambda row: (-row["clicks"], row["index"]))
    return rows


def campaign_report(
    sessions: sessionmaker[Session], slug: str, provider: str, bookings_connected: bool = False
) -> CampaignReport | None:
    """The Contract's figures for one campaign, or None if it was never sent.

    ``provider`` is the delivery provider the campaign went through (delivery.provider);
    ``bookings_connected``: a booking webhook key is set (config.Secrets.bookings_connected);
    a booking recorded in the database counts as connected too.
    """
    with sessions() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()
        if run is None:
            return None
        people: dict[str, int | None] = dict(_people_by_kind(session, run.id))
        unsubscribed = _unsubscribed(session, run.id)
        clicked_unique = _clickers(session, run.id)
        by_link = _clicks_by_link(session, run)
        reported = provider in PROVIDERS_WITH_EVENTS or _has_provider_events(session, run.id)
        booked = campaign_bookings(session, run.id)
        bookings_connected = connected(session, bookings_connected)
    not_available = [] if reported else list(PROVIDER_FIGURES)
    for name in not_available:
        people[name] = None
    counts = Ledger(sessions).counts(run.id)
    by_place: Counter[str] = Counter()
    for row in by_link:
        if row["clicks"]:
            by_place[row["place"] or "(none)"] += row["clicks"]
    return CampaignReport(
        campaign=slug,
        state=run.state,
        provider=provider,
        recipients=run.recipients,
        sent=counts[DeliveryState.SENT],
        failed=counts[DeliveryState.FAILED],
        skipped=counts[DeliveryState.SKIPPED],
        pending=sum(counts[state] for state in DeliveryState.OPEN),
        possible_duplicates=run.possible_duplicates,
        delivered=people["delivered"],
        bounced=people["bounced"],
        opened_unique=people["opened_unique"],
        clicked_unique=clicked_unique,
        cta_clicks=sum(n for place, n in by_place.items() if is_cta(place)),
        unsubscribed=unsubscribed,
        complaints=people["complaints"],
        clicks=sum(by_place.values()),
        clicks_by_place=dict(by_place.most_common()),
        clicks_by_link=by_link,
        not_available=not_available,
        pause_reason=run.pause_reason,
        **_booking_fields(booked, bookings_connected, run.recipients, clicked_unique),
    )


@dataclass(frozen=True)
class RunFigures:
    """A started campaign's headline figures, for a list of campaigns."""

    state: str  # the run's: sending, paused, finished
    recipients: int
    sent: int
    clicked_unique: int  # counted as in CampaignReport (our clicks and provider click events)
    started_at: datetime
    finished_at: datetime | None


def run_figures(sessions: sessionmaker[Session]) -> dict[str, RunFigures]:
    """Every campaign run's headline figures by slug: three queries, however many runs."""
    clickers = union(
        select(Click.campaign_id, Click.subscriber_id).where(Click.subscriber_id.is_not(None)),
        select(Event.campaign_id, Event.subscriber_id).where(
            Event.kind == EventKind.CLICKED, Event.subscriber_id.is_not(None)
        ),
    ).subquery()
    with sessions() as session:
        # Columns, not rows: a run row holds its compiled message (tens of KB).
        runs = session.execute(
            select(
                CampaignRun.id,
                CampaignRun.slug,
                CampaignRun.state,
                CampaignRun.recipients,
                CampaignRun.created_at,
                CampaignRun.finished_at,
            ).order_by(CampaignRun.id)
        ).all()
        sent: dict[int, int] = dict(
            session.execute(
                select(Delivery.campaign_id, func.count())
                .where(Delivery.state == DeliveryState.SENT)
                .group_by(Delivery.campaign_id)
            ).all()
        )
        clicked: dict[int, int] = dict(
            session.execute(
                select(clickers.c.campaign_id, func.count()).group_by(clickers.c.campaign_id)
            ).all()
        )
    return {
        run.slug: RunFigures(
            run.state,
            run.recipients,
            int(sent.get(run.id, 0)),
            int(clicked.get(run.id, 0)),
            run.created_at,
            run.finished_at,
        )
        for run in runs
    }


def _booking_fields(
    booked: BookingFigures, reported: bool, recipients: int, clickers: int
) -> dict[str, Any]:
    count = booked.bookings if reported else None
    return {
        "bookings": count,
        "booking_cancellations": booked.cancellations,
        "bookings_unmatched": booked.unmatched,
        "bookings_by_place": booked.by_place,
        "bookings_by_article": booked.by_article,
        "booking_rate_per_recipient": rate(count, recipients),
        "booking_rate_per_clicker": rate(count, clickers),
    }


def _link_line(row: dict[str, Any]) -> str:
    people = row["unique"]
    where = row["url"].split("?", 1)[0].split("://", 1)[-1]  # the UTM tail is the same everywhere
    return (
        f"{row['place'] or '-'}: {plural(row['clicks'], 'click')} by {plural(people, 'person')}, "
        f"{where}"
    )


def table_rows(report: CampaignReport) -> list[tuple[str, str]]:
    """The figures as (label, value) lines for a terminal table; clicks by link one per line."""
    rows: list[tuple[str, str]] = []
    for key, value in report.as_dict().items():
        label = key.replace("_", " ")
        if key == "not_available" or (key == "pause_reason" and not value):
            continue
        if value is None and key.startswith(("bookings", "booking_rate")):
            text = NOT_CONNECTED if report.bookings is None else "no one to count by"
        elif value is None:
            text = NOT_AVAILABLE
        elif key in {"clicks_by_place", "bookings_by_place", "bookings_by_article"}:
            text = ", ".join(f"{place} {n:,}" for place, n in value.items()) or "none"
        elif isinstance(value, float):
            text = f"{value:.2%}"
        elif key == "clicks_by_link":
            text = "\n".join(_link_line(row) for row in value) or "no links"
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        else:
            text = str(value)
        rows.append((label, text))
    return rows
