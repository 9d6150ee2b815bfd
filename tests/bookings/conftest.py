"""Bookings tests: a real `mailer serve` on loopback with the three booking keys set, a real
send to the outbox, and helpers to follow its links and post signed webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from mailer.store.booking_models import Booking
from mailer.store.models import CampaignRun
from tests.bookings import payloads
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ANA, BEN = "ana@example.com", "ben@example.com"


@dataclass
class Loop:
    """The server, the sent campaign, and a client."""

    server: LiveServer
    sent: Sent
    client: httpx.Client

    def follow(self, address: str, place: str) -> dict[str, str]:
        """Follow ``address``'s link at ``place`` through /c/: the booking page's query."""
        run = self.run()
        index = next(link["index"] for link in run.links if link["place"] == place)
        url = next(u for u in self.sent.click_urls(address) if u.endswith(f".{index}"))
        response = self.client.get(url)
        assert response.status_code == 302
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}

    def run(self, slug: str | None = None) -> CampaignRun:
        with self.sent.sessions() as session:
            return session.scalars(
                select(CampaignRun).where(CampaignRun.slug == (slug or self.sent.slug))
            ).one()

    def calendly(self, document: dict[str, Any], **sign: Any) -> httpx.Response:
        raw = payloads.body(document)
        return self.client.post(
            "/webhooks/calendly", content=raw, headers=payloads.calendly_headers(raw, **sign)
        )

    def calcom(self, document: dict[str, Any], **sign: Any) -> httpx.Response:
        raw = payloads.body(document)
        return self.client.post(
            "/webhooks/calcom", content=raw, headers=payloads.calcom_headers(raw, **sign)
        )

    def generic(self, document: dict[str, Any], **sign: Any) -> httpx.Response:
        raw = payloads.body(document)
        return self.client.post(
            "/webhooks/booking", content=raw, headers=payloads.generic_headers(raw, **sign)
        )

    def bookings(self) -> list[Booking]:
        with self.sent.sessions() as session:
            return list(session.scalars(select(Booking).order_by(Booking.id)))

    def states(self) -> list[str]:
        return [row.state for row in self.bookings()]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, workspace: object) -> None:
    """The three booking keys, set after `workspace` cleared MAILER_* and before the server
    reads them."""
    monkeypatch.setenv("MAILER_CALENDLY_SIGNING_KEY", payloads.CALENDLY_KEY)
    monkeypatch.setenv("MAILER_CALCOM_WEBHOOK_SECRET", payloads.CALCOM_KEY)
    monkeypatch.setenv("MAILER_BOOKING_WEBHOOK_SECRET", payloads.BOOKING_KEY)


@pytest.fixture
def loop(
    keys: None, live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Loop]:
    sent = send_campaign(live_server, database_url, monkeypatch)
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield Loop(live_server, sent, client)
