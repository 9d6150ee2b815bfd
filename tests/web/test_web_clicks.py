"""Click-through from a real .eml: recorded, then redirected to the link exactly as sent (a
booking link: plus its signed click reference, mailer.bookings.refs)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from mailer.bookings.refs import Ref, read_ref
from mailer.store.models import CampaignRun, Click, Event, EventKind
from mailer.subscribers.service import delete_subscriber
from mailer.tokens import SecretKey, click_token
from mailer.web.clicks import safe_url
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ANA, BEN = "ana@example.com", "ben@example.com"


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return send_campaign(live_server, database_url, monkeypatch)


def _clicks(sent: Sent) -> list[Click]:
    with sent.sessions() as session:
        return list(session.scalars(select(Click).order_by(Click.id)))


def _click_events(sent: Sent) -> list[Event]:
    with sent.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == EventKind.CLICKED)))


def _links(sent: Sent) -> list[dict[str, object]]:
    with sent.sessions() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == sent.slug)).one()
        return list(run.links)


def _run_id(sent: Sent) -> int:
    with sent.sessions() as session:
        return session.scalars(select(CampaignRun.id).where(CampaignRun.slug == sent.slug)).one()


@pytest.mark.both_databases
def test_click_from_the_eml_is_recorded_and_redirects_exactly(sent: Sent) -> None:
    urls = sent.click_urls(ANA)
    assert urls, "the .eml has tracked links"
    links = {link["index"]: link for link in _links(sent)}
    for url in urls:
        response = httpx.get(url)
        assert response.status_code == 302
        index = int(url.rsplit(".", 1)[1])
        location = response.headers["location"]
        if str(links[index]["place"]).startswith("cta"):  # a booking link: plus the reference
            sent_url, ref = location.split("&utm_term=")
            assert sent_url == links[index]["url"]
            key = SecretKey.for_workspace(sent.workspace)
            assert read_ref(key, ref) == Ref(sent.ids[ANA], _run_id(sent), index)
        else:
            assert location == links[index]["url"]
    first = httpx.get(urls[0]).headers["location"]
    query = parse_qs(urlsplit(first).query)
    assert query["utm_source"] == ["newsletter"] and query["utm_medium"] == ["email"]
    assert query["utm_campaign"] == [sent.slug]

    clicks = _clicks(sent)
    assert len(clicks) == len(urls) + 1
    assert {c.subscriber_id for c in clicks} == {sent.ids[ANA]}
    assert any(c.place.startswith("cta") for c in clicks)
    assert all(c.url == links[c.link_index]["url"] for c in clicks)
    events = _click_events(sent)
    assert len(events) == len(clicks)
    assert {(e.source, e.subscriber_id) for e in events} == {("web", sent.ids[ANA])}


def test_bad_index_tampered_or_foreign_token_is_404_without_location(sent: Sent) -> None:
    url = sent.click_urls(BEN)[0]
    prefix, token = url.rsplit("/", 1)
    recipient, index = token.rsplit(".", 1)
    flipped = recipient[:-3] + ("A" if recipient[-3] != "A" else "B") + recipient[-2:]
    foreign = click_token(b"another-key", sent.ids[BEN], sent.slug, int(index))
    other_campaign = click_token(SecretKey.for_workspace(sent.workspace), sent.ids[BEN], "x", 0)
    for bad in (
        f"{recipient}.{len(_links(sent))}",
        f"{recipient}.999999",
        f"{recipient}.-1",
        f"{recipient}.",
        recipient,
        f"{flipped}.{index}",
        foreign,
        other_campaign,
        "nothing",
    ):
        response = httpx.get(f"{prefix}/{bad}")
        assert response.status_code == 404, bad
        assert "location" not in response.headers
    assert _clicks(sent) == [] and _click_events(sent) == []


def test_erased_subscriber_still_redirects_but_anonymously(sent: Sent) -> None:
    url = sent.click_urls(BEN)[0]
    with sent.sessions() as session, session.begin():
        delete_subscriber(session, BEN)
    response = httpx.get(url)
    assert response.status_code == 302
    [recorded] = _clicks(sent)
    assert recorded.subscriber_id is None
    assert _click_events(sent)[0].subscriber_id is None


@pytest.mark.parametrize(
    "target",
    ["javascript:alert(1)", "data:text/html,hi", "//evil.example/x", "https://a.example/\r\nX: y"],
)
def test_a_stored_target_that_is_not_http_is_never_redirected_to(
    sent: Sent, live_server: LiveServer, target: str
) -> None:
    url = sent.click_urls(ANA)[0]
    prefix, token = url.rsplit("/", 1)
    recipient, _ = token.rsplit(".", 1)
    links = _links(sent)
    links.append({"index": len(links), "url": target, "place": "odd", "text": ""})
    with sent.sessions() as session, session.begin():
        session.execute(
            update(CampaignRun).where(CampaignRun.slug == sent.slug).values(links=links)
        )
    assert not safe_url(target)
    response = httpx.get(f"{prefix}/{recipient}.{len(links) - 1}")
    assert response.status_code == 404 and "location" not in response.headers


def test_a_token_ending_in_a_non_ascii_character_is_a_404(sent: Sent) -> None:
    """Issue 10 item 18: a click token whose index ends in a character that str.isdigit()
    accepts but int() refuses ('²') was a 500; that and other non-ASCII endings ('é', Arabic-
    Indic digits) are a 404 without a Location, and record nothing."""
    url = sent.click_urls(ANA)[0]
    prefix, token = url.rsplit("/", 1)
    recipient, index = token.rsplit(".", 1)
    for bad in (
        f"{recipient}.{index}²",
        f"{recipient}.²",
        f"{recipient}.{index}é",
        f"{recipient}é.{index}",
        f"{recipient}.١",
        f"{recipient}.{index}\u0301",
    ):
        response = httpx.get(f"{prefix}/{quote(bad)}")
        assert response.status_code == 404, bad
        assert "location" not in response.headers
    assert _clicks(sent) == [] and _click_events(sent) == []


@pytest.fixture
def client(sent: Sent, live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@settings(
    max_examples=150,  # per backend
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keep=st.integers(min_value=0, max_value=40),
    tail=st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
def test_fuzzed_click_tokens_are_a_redirect_or_a_404_never_a_500(
    sent: Sent, client: httpx.Client, keep: int, tail: str
) -> None:
    """Issue 10 item 18: a real token cut anywhere and followed by any text is a 302 to a link
    as sent or a 404, never a 500."""
    url = sent.click_urls(BEN)[0]
    token = url.rsplit("/", 1)[1]
    response = client.get(f"/c/{quote(token[:keep] + tail, safe='')}")
    assert response.status_code in (302, 404), (token[:keep] + tail, response.status_code)
    if response.status_code == 302:
        as_sent = response.headers["location"].split("&utm_term=")[0]  # a booking link's ref
        assert as_sent in {str(link["url"]) for link in _links(sent)}
